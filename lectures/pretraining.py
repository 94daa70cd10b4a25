"""Lecture: self-supervised pre-training (HW7, BERT's idea: pre-train on unlabelled text by
filling in masked tokens, then fine-tune with few labels).

Claim: with 100 labelled sentences, an attention encoder pre-trained by masked-token prediction
on the unlabelled train sentences and then fine-tuned beats the same encoder trained from scratch
on the 100 labels by at least 10 points of test accuracy.

Task: ``gymlab/Topics-v0``: sentences of 8 words; every word belongs to one of 16 topics, and a
sentence's words are half words of its topic (the rest any word); each position is labelled with the sentence's
topic. Which words share a topic shows in unlabelled sentences (they occur together), so
predicting a masked word teaches it; 100 labelled sentences show each word about 2.5 times (with its topic).
(gymlab/Sequence-v0 would not do: its tokens are independent, so there is nothing in
unlabelled sequences to learn.)

Arms (the same encoder, ``net=attention``, one run each under the seed's folder):

- ``scratch``: the supervised learner on 100 labelled sentences (the ``labelled`` variant);
- ``pre-trained + fine-tuned``: first the ``masked`` variant (BERT's corruption, here of 25% of
  the positions: 80% [MASK] / 10% random / 10% unchanged; the loss is scored at those positions,
  the targets the original words; the train split's labels unused), then ``init_from`` that run (the encoder copied, a fresh head for the
  topics) and the same training on the 100 labels.

Figures: ``test_acc`` (fraction of test positions labelled with the right topic); for the
pre-training run, ``mlm_acc`` (its test accuracy at filling in the corrupted sentences).
"""

from __future__ import annotations

from pathlib import Path

from agents.supervised import Supervised
from lectures.runner import Lecture, Panel, Table, Trial, register

ENV_ID = "gymlab/Topics-v0"
N_LABELS = 100
ENCODER = {"net": "attention", "d_model": 64, "n_heads": 4, "n_layers": 2}
PRETRAIN = {"mask_rate": 0.25, "copies": 2}
PRETRAIN_SETTINGS = {"batch_size": 128, "learning_rate": 3e-3, "lr_schedule": "cosine", "patience": 0}
PRETRAIN_EPOCHS, QUICK_PRETRAIN_EPOCHS = 20, 6
FINE_TUNE = {"batch_size": 20, "learning_rate": 1e-3, "epochs": 40, "patience": 0}


def experiment(quick: bool, seed: int, out: Path) -> Trial:
    """One seed: scratch on 100 labels; masked-token pre-training, then the same fine-tuning."""
    few_labels = {"family": "labelled", "n_labels": N_LABELS, "seed": seed}
    scratch = Supervised(ENV_ID, seed=seed, env_kwargs=few_labels, **ENCODER, **FINE_TUNE)
    scratch.learn(run_dir=out / "scratch")
    pretrained = Supervised(ENV_ID, seed=seed, env_kwargs={"family": "masked", **PRETRAIN, "seed": seed}, **ENCODER,
                            **PRETRAIN_SETTINGS, epochs=QUICK_PRETRAIN_EPOCHS if quick else PRETRAIN_EPOCHS)  # fmt: skip
    pretrained.learn(run_dir=out / "masked-pretraining")
    fine_tuned = Supervised(ENV_ID, seed=seed, env_kwargs=few_labels, **ENCODER, **FINE_TUNE)
    fine_tuned.init_from(pretrained)  # the encoder; the head (topics, not words) starts fresh
    fine_tuned.learn(run_dir=out / "fine-tuned")
    figures = {
        "scratch": {"test_acc": scratch.evaluate()["accuracy"]},
        "pre-trained + fine-tuned": {"test_acc": fine_tuned.evaluate()["accuracy"],
                                     "mlm_acc": pretrained.evaluate()["accuracy"]},
    }  # fmt: skip
    lines = {arm: ([N_LABELS], [figures[arm]["test_acc"]]) for arm in figures}
    panel = Panel("topics: test accuracy with 100 labels", lines, "labelled sentences", "test accuracy")
    runs = [str(out / name) for name in ("scratch", "masked-pretraining", "fine-tuned")]
    return Trial(figures, [panel], runs=runs)


def condition(table: Table) -> bool:
    """Mean test accuracy: pre-trained + fine-tuned >= scratch + 0.10."""
    return table.mean("pre-trained + fine-tuned", "test_acc") >= table.mean("scratch", "test_acc") + 0.10


LECTURE = register(
    Lecture(
        name="pretraining",
        homework="HW7: self-supervised pre-training (BERT)",
        claim="With 100 labels, masked-token pre-training on unlabelled sentences then fine-tuning beats "
        "training from scratch by >= 10 points.",
        arms=("scratch", "pre-trained + fine-tuned"),
        experiment=experiment,
        condition=condition,
        condition_text="mean test accuracy: pre-trained + fine-tuned >= scratch + 0.10",
    )
)
