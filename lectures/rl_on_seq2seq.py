"""Lecture: RL on seq2seq (the course's "when a loss can't be optimised, treat it as the reward").

Claim: exact match has no gradient, but REINFORCE on it (outputs sampled from the decoder, scored
by the env, the greedy output's score as the baseline) raises the exact match of the model's
sampled outputs above that of the teacher-forced model it starts from.

Arms, on ``gymlab/Reverse-v0`` (one run each under the seed's folder):

- ``teacher-forced``: the supervised learner, ``net=transformer``, trained for a few epochs only
  (under-trained, so there is room to improve);
- ``REINFORCE``: the ``seq2seq-reinforce`` learner started from those weights
  (``init_from``), reward = exact match, for ``RL_EPOCHS`` passes over the train split.

Figures on the test split: ``sampled_exact`` (exact match of outputs sampled token by token from
the softmax, averaged over ``SAMPLES`` draws: the expected reward that REINFORCE maximises),
``greedy_exact`` (exact match of greedy outputs) and ``token_accuracy`` (greedy).

What it shows: the policy gradient raises the score it is given. The greedy output (the
distribution's mode) need not follow; in trials here it stayed level or fell a little (see
result.json), because pushing down a wrong sample also pushes down the right tokens it shares
with the greedy output.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from agents.seq2seq import exact_match, greedy_decode, sample_sequences
from agents.sequence_rl import SequenceReinforce
from agents.supervised import Supervised
from lectures.runner import Lecture, Panel, Table, Trial, register
from supervised.datasets import load_task

ENV_ID = "gymlab/Reverse-v0"
NETWORK = {"net": "transformer", "d_model": 64, "n_heads": 4, "n_layers": 1, "patience": 0}
TEACHER = {"batch_size": 128, "learning_rate": 5e-3, "lr_schedule": "cosine", "lr_warmup": 0.05, "epochs": 3}
REINFORCE = {"batch_size": 32, "learning_rate": 1e-4, "reward": "exact", "baseline": "greedy"}
RL_EPOCHS, QUICK_RL_EPOCHS = 8, 2
SAMPLES = 2


@torch.no_grad()
def sequence_figures(model, seed: int) -> dict[str, float]:
    """Test-split exact match of sampled (mean over SAMPLES draws) and greedy outputs, and greedy
    token accuracy."""
    data = load_task("reverse", "test")
    x, y = torch.from_numpy(data.x.copy()), torch.from_numpy(data.y.copy())
    greedy = greedy_decode(model, x)[0]
    torch.manual_seed(seed)
    sampled = [exact_match(sample_sequences(model, x)[0], y).mean().item() for _ in range(SAMPLES)]
    return {
        "sampled_exact": float(np.mean(sampled)),
        "greedy_exact": exact_match(greedy, y).mean().item(),
        "token_accuracy": (greedy == y).float().mean().item(),
    }


def experiment(quick: bool, seed: int, out: Path) -> Trial:
    """One seed: a short teacher-forced run, then REINFORCE from its weights."""
    teacher = Supervised(ENV_ID, seed=seed, **NETWORK, **TEACHER)
    teacher.learn(run_dir=out / "teacher-forced")
    learner = SequenceReinforce(
        ENV_ID, seed=seed, **NETWORK, **REINFORCE, epochs=QUICK_RL_EPOCHS if quick else RL_EPOCHS
    )
    learner.init_from(teacher)
    learner.learn(run_dir=out / "reinforce")
    figures = {
        "teacher-forced": sequence_figures(teacher.model, seed),
        "REINFORCE": sequence_figures(learner.model, seed),
    }
    lines = {name: ([0, 1], [figures["teacher-forced"][name], figures["REINFORCE"][name]])
             for name in ("sampled_exact", "greedy_exact")}  # fmt: skip
    panel = Panel("exact match: teacher-forced (0) -> REINFORCE (1)", lines, "fine-tuned", "test exact match")
    return Trial(figures, [panel], runs=[str(out / "teacher-forced"), str(out / "reinforce")])


def condition(table: Table) -> bool:
    """Mean sampled exact match: REINFORCE > teacher-forced."""
    return table.mean("REINFORCE", "sampled_exact") > table.mean("teacher-forced", "sampled_exact")


LECTURE = register(
    Lecture(
        name="rl-on-seq2seq",
        homework="HW5 / lecture: when a loss can't be optimised, treat it as the reward (RL on seq2seq)",
        claim="REINFORCE on the non-differentiable exact match raises the sampled outputs' exact match above "
        "the teacher-forced model's it starts from.",
        arms=("teacher-forced", "REINFORCE"),
        experiment=experiment,
        condition=condition,
        condition_text="test exact match of sampled outputs, mean over seeds: REINFORCE > teacher-forced",
    )
)
