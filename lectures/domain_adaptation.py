"""Lecture: domain adaptation (HW11: domain-adversarial training).

Claim: with labels only in the source domain and unlabelled inputs from the target, DANN's
median target accuracy over 5 seeds is at least 5 points above the same network trained on the
source alone, on two shifts:

- two moons -> the same moons rotated by 30 degrees;
- the 8x8 digits -> the same digits in bold (``digits-thick``: strokes a pixel thicker, a 2x2
  max filter; as MNIST-M is made from MNIST, the target's inputs are the source's images
  redrawn, their labels never used). A network trained on the bold digits' own labels learns
  them (the ``target-trained`` arm), so the shift is solvable; the source-only network loses
  about 38 points on it (0.97 on the source's test split, 0.59 on the target's).

DANN's spread over seeds is large (the adversarial game may settle on an alignment that swaps
classes); the table's spread and result.json's per-seed values show it. On the digits the
reversed gradient is weighted 0.1 (``domain_weight``) at a learning rate of 1e-3, chosen among
1, 0.3, 0.1 and 0.03 on seeds 0-2 (0.03 gained a little more, 0.3 a little less): at the moons'
weight of 1 (learning rate 3e-3) the alignment swaps digit classes and DANN falls below
source-only (0.48 against 0.58, seeds 0-1). Other shifts tried did not show the claim: Gaussian
pixel noise (DANN +1 to +2 points), a blur and a raised grey background (DANN below source-only
at every weight tried), an MNIST-M-like random texture (learnt to only 0.70 from its own labels;
DANN below source-only at weight 1).

Arms (``moons ...`` and ``digits ...``):

- ``source-only``: the ``dann`` learner (agents.dann) with domain_weight=0 (the domain classifier
  is trained, but its reversed gradient never reaches the features);
- ``DANN``: the gradient reversal on;
- ``target-trained``: the supervised learner on the target's own labels (the check that the
  target task is learnable, an upper bound).

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

SHIFTS = {  # name -> (source, target, DANN's domain_weight, dann settings, target-trained settings)
    "moons": ("moons", "moons-rotated", 1.0, {"total_steps": 60_000}, {"epochs": 30}),
    "digits": ("digits", "digits-thick", 0.1, {"total_steps": 60_000, "hidden": [128, 128], "learning_rate": 1e-3},
               {"net": "mlp", "hidden": [128, 128], "learning_rate": 1e-3, "epochs": 30}),
}  # fmt: skip


def pca_2d(features: np.ndarray) -> np.ndarray:
    """(N, F) features projected on their first two principal components: (N, 2)."""
    centred = features - features.mean(axis=0)
    _, _, components = np.linalg.svd(centred, full_matrices=False)
    return centred @ components[:2].T


def draw_features(axes, source: np.ndarray, target: np.ndarray, source_y: np.ndarray, target_y: np.ndarray) -> None:
    """Source (circles) and target (crosses) features in one PCA, coloured by class (C0, C1, ...)."""
    both = pca_2d(np.concatenate([source, target]))
    s, t = both[: len(source)], both[len(source) :]
    axes.scatter(*s.T, s=6, c=[f"C{label}" for label in source_y], marker="o", label="source (colour = class)")
    axes.scatter(*t.T, s=10, c=[f"C{label}" for label in target_y], marker="x", label="target (colour = class)")
    legend = axes.legend(fontsize=6)
    for handle in getattr(legend, "legend_handles", None) or legend.legendHandles:
        handle.set_color("0.3")  # the markers say the domain; the colours in the plot, the class


def experiment(quick: bool, seed: int, out: Path) -> Trial:
    """One seed, each shift: source-only and DANN from the same start, and the target's own
    supervised model."""
    figures, panels, runs = {}, [], []
    for shift, (source, target, weight, settings, oracle_settings) in SHIFTS.items():
        labels = (load_task(source, "test").y, load_task(target, "test").y)
        for arm, domain_weight in (("source-only", 0.0), ("DANN", weight)):
            name = f"{shift} {arm}"
            agent = DANN(get_task(source).env_id, seed=seed, target=target, domain_weight=domain_weight,
                         checkpoint_every=settings["total_steps"], **settings)  # fmt: skip
            agent.learn(run_dir=out / name.replace(" ", "-"))
            runs.append(str(out / name.replace(" ", "-")))
            stats = agent.evaluate()
            figures[name] = {"target_acc": stats["target_accuracy"], "source_acc": stats["source_accuracy"]}
            draw = partial(draw_features, source=agent.features(source), target=agent.features(target),
                           source_y=labels[0], target_y=labels[1])  # fmt: skip
            panels.append(Panel(f"{shift} features (PCA), {arm}", surface=draw, xlabel="PC 1", ylabel="PC 2"))
        epochs = oracle_settings["epochs"] // 2 if quick else oracle_settings["epochs"]
        oracle = Supervised(get_task(target).env_id, seed=seed, **{**oracle_settings, "epochs": epochs})
        oracle.learn(run_dir=out / f"{shift}-target-trained")
        runs.append(str(out / f"{shift}-target-trained"))
        figures[f"{shift} target-trained"] = {"target_acc": oracle.evaluate()["accuracy"]}
    return Trial(figures, panels, runs)


def gain(table: Table, shift: str) -> float:
    """DANN's median target accuracy over seeds minus source-only's, on ``shift``."""
    median = {arm: statistics.median(table.values[f"{shift} {arm}"]["target_acc"]) for arm in ("source-only", "DANN")}
    return median["DANN"] - median["source-only"]


def condition(table: Table) -> bool:
    """On each shift, median target accuracy over seeds: DANN >= source-only + 0.05."""
    return all(gain(table, shift) >= 0.05 for shift in SHIFTS)


LECTURE = register(
    Lecture(
        name="domain-adaptation",
        homework="HW11: domain adaptation",
        claim="With source labels only, DANN's median target accuracy is >= 5 points above source-only training, "
        "on two moons rotated by 30 degrees and on digits drawn in bold.",
        arms=tuple(f"{shift} {arm}" for shift in SHIFTS for arm in ("source-only", "DANN", "target-trained")),
        experiment=experiment,
        condition=condition,
        condition_text="median target test accuracy over seeds, moons and digits each: DANN >= source-only + 0.05",
        quick_seeds=5,
    )
)
