"""Lecture: self-attention (HW4: a token's label can depend on every other token).

Claim: on the ``sequence`` task (16 one-hot tokens from a vocabulary of 8; each position is
labelled by how many *other* positions hold the same token, capped at 3) self-attention reaches
>= 90% test accuracy per token, while an MLP applied to each token on its own cannot beat the
majority class (about 29%): the count is independent of the token itself, so a per-token model
has nothing to go on.

Arms (runs of the supervised learner on ``gymlab/Sequence-v0``):

- ``attention``: ``net=attention`` (a two-layer Transformer encoder, d_model 64, 4 heads);
- ``per-token MLP``: ``net=mlp`` (hidden 256-256, the same MLP on every position).

Figures: per-token accuracy and cross-entropy on the test split, and ``majority``: the test
accuracy of always answering the training split's most common label.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from lectures.runner import Lecture, Panel, Table, Trial, register
from lectures.supervised_runs import parameter_count, run_curve, split_scores, train_run
from supervised.datasets import load_task

ARMS = {"attention": {"net": "attention"}, "per-token MLP": {"net": "mlp", "hidden": [256, 256]}}
SETTINGS = {"learning_rate": 3e-3, "lr_schedule": "cosine", "patience": 0}


def majority_accuracy(task: str = "sequence") -> float:
    """Test accuracy of answering every position with the training split's most common label."""
    train, test = load_task(task, "train"), load_task(task, "test")
    majority = np.bincount(train.y.ravel()).argmax()
    return float((test.y == majority).mean())


def experiment(quick: bool, seed: int, out: Path) -> Trial:
    """One seed: both arms, each a run under ``out``."""
    figures, runs = {}, []
    majority = majority_accuracy()
    for arm, settings in ARMS.items():
        run_dir = out / arm.replace(" ", "-")
        agent = train_run("gymlab/Sequence-v0", seed, run_dir, epochs=3 if quick else 10, **settings, **SETTINGS)
        figures[arm] = {**split_scores(agent, ("test",)), "majority": majority, "parameters": parameter_count(agent)}
        runs.append(str(run_dir))
    curves = {arm: run_curve(Path(run), "eval/accuracy") for arm, run in zip(ARMS, runs)}
    curves["majority class"] = ([0, curves["attention"][0][-1]], [majority, majority])
    panels = [Panel("sequence: validation accuracy per epoch", curves, "examples", "val accuracy per token")]
    return Trial(figures, panels, runs)


def condition(table: Table) -> bool:
    """Means: attention's test accuracy >= 0.9; the per-token MLP's at most 0.02 above the
    majority class's."""
    return (
        table.mean("attention", "test_accuracy") >= 0.9
        and table.mean("per-token MLP", "test_accuracy") <= table.mean("per-token MLP", "majority") + 0.02
    )


LECTURE = register(
    Lecture(
        name="self-attention",
        homework="HW4: self-attention (labels that depend on the whole sequence)",
        claim="Labelling each token by how often it recurs, self-attention reaches >= 90% test accuracy while a "
        "per-token MLP stays at the majority class (~29%): the label needs the other positions.",
        arms=tuple(ARMS),
        experiment=experiment,
        condition=condition,
        condition_text="means: attention test accuracy >= 0.9; per-token MLP test accuracy <= majority class + 0.02",
    )
)
