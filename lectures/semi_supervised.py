"""Lecture: semi-supervised learning by pseudo-labelling (HW3's "semi-supervised learning").

Claim: with 5% of the digits' train labels, adding the model's confident predictions on the
other 95% (inputs only) as labels raises test accuracy by at least 3 points over the 5%-only
model.

Arms (one run each under the seed's folder, the same CNN, optimiser and passes over the labelled
examples; the ``labelled`` task variant keeps 5% of the train labels, drawn with the seed):

- ``5% labels``: the supervised learner on the labelled examples alone;
- ``5% + pseudo-labels``: the ``pseudo-label`` learner: the same, and after ``WARMUP`` passes,
  each step also trains on a batch of unlabelled inputs labelled by the model's own argmax where
  its top probability is >= ``THRESHOLD``.

Figures: ``test_acc`` (test split), and for the pseudo-label arm ``pseudo_labelled`` (share of
unlabelled inputs confident enough to be labelled at the end) and ``pseudo_label_acc`` (how
many of those labels are right: the labels are checked here, never used in training).
"""

from __future__ import annotations

from pathlib import Path

import torch

from agents.pseudo_label import PseudoLabel
from agents.supervised import Supervised
from lectures.runner import Lecture, Panel, Table, Trial, register
from supervised.datasets import load_task
from supervised.families import labelled

ENV_ID = "gymlab/Digits-v0"
FRACTION = 0.05
SETTINGS = {"net": "cnn", "hidden": [256], "learning_rate": 1e-3, "batch_size": 32, "patience": 0}
EPOCHS, QUICK_EPOCHS = 100, 60
WARMUP = 20
THRESHOLD = 0.95


@torch.no_grad()
def pseudo_label_quality(agent: PseudoLabel, variant) -> tuple[float, float]:
    """Share of the unlabelled train inputs the model labels with confidence >= THRESHOLD, and
    the accuracy of those labels against the true ones."""
    train = load_task("digits", "train")
    rows = sorted(set(range(len(train))) - set(variant.labelled_rows().tolist()))
    probs = torch.softmax(agent.model(torch.from_numpy(train.x[rows].copy())), dim=-1)
    confidence, labels = probs.max(dim=-1)
    confident = confidence >= THRESHOLD
    right = (labels == torch.from_numpy(train.y[rows].copy()))[confident]
    return confident.float().mean().item(), right.float().mean().item() if len(right) else float("nan")


def experiment(quick: bool, seed: int, out: Path) -> Trial:
    """One seed: the 5%-only model and the pseudo-labelling one, same settings."""
    epochs = QUICK_EPOCHS if quick else EPOCHS
    env_kwargs = {"family": "labelled", "fraction": FRACTION, "seed": seed}
    few = Supervised(ENV_ID, seed=seed, env_kwargs=env_kwargs, **SETTINGS, epochs=epochs)
    curves = {"5% labels": [], "5% + pseudo-labels": []}
    few.learn(run_dir=out / "labels-only")
    pseudo = PseudoLabel(ENV_ID, seed=seed, env_kwargs=env_kwargs, **SETTINGS, epochs=epochs,
                         threshold=THRESHOLD, warmup_epochs=WARMUP)  # fmt: skip
    pseudo.learn(run_dir=out / "pseudo-labels")
    share, label_acc = pseudo_label_quality(pseudo, labelled("digits", fraction=FRACTION, seed=seed))
    figures = {
        "5% labels": {"test_acc": few.evaluate()["accuracy"]},
        "5% + pseudo-labels": {"test_acc": pseudo.evaluate()["accuracy"], "pseudo_labelled": share,
                               "pseudo_label_acc": label_acc},
    }  # fmt: skip
    for arm in curves:
        curves[arm] = ([0, 1], [figures["5% labels"]["test_acc"], figures[arm]["test_acc"]])
    panel = Panel("digits, 5% of the train labels", curves, "arm (0: 5% only, 1: this arm)", "test accuracy")
    return Trial(figures, [panel], runs=[str(out / "labels-only"), str(out / "pseudo-labels")])


def condition(table: Table) -> bool:
    """Mean test accuracy: 5% + pseudo-labels >= 5% labels + 0.03."""
    return table.mean("5% + pseudo-labels", "test_acc") >= table.mean("5% labels", "test_acc") + 0.03


LECTURE = register(
    Lecture(
        name="semi-supervised",
        homework="HW3: semi-supervised learning (pseudo-labelling)",
        claim="With 5% of the digits' labels, confident pseudo-labels on the other 95% raise test accuracy "
        "by >= 3 points over the 5%-only model.",
        arms=("5% labels", "5% + pseudo-labels"),
        experiment=experiment,
        condition=condition,
        condition_text="mean test accuracy: 5% + pseudo-labels >= 5% labels + 0.03",
    )
)
