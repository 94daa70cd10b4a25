"""Lecture: domain adaptation (HW11: domain-adversarial training).

Claim: with labels only in the source domain (two moons) and unlabelled inputs from the target
(the same moons rotated by 30 degrees), DANN's median target accuracy over 5 seeds is at least 5
points above the same network trained on the source alone. DANN's spread over seeds is large
(the adversarial game may settle on an alignment that swaps the moons' tips); the table's
spread and result.json's per-seed values show it.

Arms:

- ``source-only``: the ``dann`` learner (agents.dann) with domain_weight=0 (the domain classifier
  is trained, but its reversed gradient never reaches the features);
- ``DANN``: domain_weight=1, the gradient reversal on;
- ``target-trained``: the supervised learner on gymlab/MoonsRotated-v0's own labels (the check
  that the target task is learnable, an upper bound).

Figures: ``target_acc`` and ``source_acc`` (test splits). The plot: PCA of the features of
source and target test inputs, before (source-only) and after (DANN) adaptation, seed 0.
"""

from __future__ import annotations

import statistics
from functools import partial
from pathlib import Path

import numpy as np

from agents.dann import DANN
from agents.supervised import Supervised
from lectures.runner import Lecture, Panel, Table, Trial, register
from supervised.registry import get_task, load_task

SOURCE, TARGET = "moons", "moons-rotated"
STEPS = 60_000  # source examples


def pca_2d(features: np.ndarray) -> np.ndarray:
    """(N, F) features projected on their first two principal components: (N, 2)."""
    centred = features - features.mean(axis=0)
    _, _, components = np.linalg.svd(centred, full_matrices=False)
    return centred @ components[:2].T


def draw_features(axes, source: np.ndarray, target: np.ndarray, source_y: np.ndarray, target_y: np.ndarray) -> None:
    """Source (circles) and target (crosses) features in one PCA, coloured by class."""
    both = pca_2d(np.concatenate([source, target]))
    s, t = both[: len(source)], both[len(source) :]
    for label, colour in ((0, "tab:blue"), (1, "tab:orange")):
        axes.scatter(*s[source_y == label].T, s=6, c=colour, marker="o", label=f"source class {label}")
        axes.scatter(*t[target_y == label].T, s=10, c=colour, marker="x", label=f"target class {label}")
    axes.legend(fontsize=6)


def experiment(quick: bool, seed: int, out: Path) -> Trial:
    """One seed: source-only and DANN from the same start, and the target's own supervised model."""
    figures, panels, runs = {}, [], []
    for arm, weight in (("source-only", 0.0), ("DANN", 1.0)):
        agent = DANN(get_task(SOURCE).env_id, seed=seed, target=TARGET, domain_weight=weight,
                     total_steps=STEPS, checkpoint_every=STEPS)  # fmt: skip
        agent.learn(run_dir=out / arm)
        runs.append(str(out / arm))
        stats = agent.evaluate()
        figures[arm] = {"target_acc": stats["target_accuracy"], "source_acc": stats["source_accuracy"]}
        labels = (load_task(SOURCE, "test").y, load_task(TARGET, "test").y)
        draw = partial(draw_features, source=agent.features(SOURCE), target=agent.features(TARGET),
                       source_y=labels[0], target_y=labels[1])  # fmt: skip
        panels.append(Panel(f"features (PCA), {arm}", surface=draw, xlabel="PC 1", ylabel="PC 2"))
    oracle = Supervised(get_task(TARGET).env_id, seed=seed, epochs=15 if quick else 30)
    oracle.learn(run_dir=out / "target-trained")
    runs.append(str(out / "target-trained"))
    figures["target-trained"] = {"target_acc": oracle.evaluate()["accuracy"]}
    return Trial(figures, panels, runs)


def condition(table: Table) -> bool:
    """Median target accuracy over seeds: DANN >= source-only + 0.05."""
    median = {arm: statistics.median(table.values[arm]["target_acc"]) for arm in ("source-only", "DANN")}
    return median["DANN"] >= median["source-only"] + 0.05


LECTURE = register(
    Lecture(
        name="domain-adaptation",
        homework="HW11: domain adaptation",
        claim="With source labels only, DANN's median target accuracy on two moons rotated by 30 degrees is "
        ">= 5 points above source-only training.",
        arms=("source-only", "DANN", "target-trained"),
        experiment=experiment,
        condition=condition,
        condition_text="median target test accuracy over seeds: DANN >= source-only + 0.05",
        quick_seeds=5,
    )
)
