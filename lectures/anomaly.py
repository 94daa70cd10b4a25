"""Lecture: anomaly detection with an auto-encoder (HW8).

Claim: an auto-encoder trained only on the digits 0-4 reconstructs the digits 5-9 worse, so its
reconstruction error tells them apart (test ROC-AUC >= 0.85), at least as well as PCA with the
same bottleneck.

Arms:

- ``autoencoder``: gymlab's supervised learner on ``gymlab/DigitsReconstruction-v0`` with
  ``net=autoencoder`` (64 -> 256 -> ``BOTTLENECK`` -> 256 -> 64), trained on the rows of digits
  0-4 only (env kwarg ``classes=0,1,2,3,4``), weights chosen on the validation rows of 0-4;
- ``PCA``: scikit-learn's PCA with ``BOTTLENECK`` components fitted on the same training rows,
  the linear auto-encoder.

Experiment, per seed: train the auto-encoder (a run directory: ``gymlab eval RUN --anomaly``
reports the same figures), then score every test image (all ten digits) by its mean squared
reconstruction error under each arm; 5-9 are the anomalies. Figures: ``roc_auc`` and the mean
error of normal and anomalous images. The PNG shows the ROC curves, and originals against the
auto-encoder's reconstructions for normal and anomalous digits.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from agents.supervised import Supervised
from lectures.runner import Lecture, Panel, Table, Trial, register
from supervised.anomaly import anomaly_split, pca_reconstruction_errors, reconstruction_errors, roc_auc
from supervised.registry import load_task

TASK = "digits-reconstruction"
ENV_ID = "gymlab/DigitsReconstruction-v0"
NORMAL = (0, 1, 2, 3, 4)
"""the digits the detector is trained on; the others are the anomalies"""
BOTTLENECK = 8
HIDDEN = [256]
SHOWN = 8
"""images per row of the PNG"""


def scores(errors: np.ndarray, is_anomaly: np.ndarray) -> dict[str, float]:
    """An arm's figures from its reconstruction errors."""
    return {
        "roc_auc": roc_auc(errors, is_anomaly),
        "error_normal": float(errors[~is_anomaly].mean()),
        "error_anomaly": float(errors[is_anomaly].mean()),
    }


def roc_points(errors: np.ndarray, is_anomaly: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(false positive rate, true positive rate) at every threshold, for the plot."""
    from sklearn.metrics import roc_curve

    false_positive, true_positive, _ = roc_curve(is_anomaly, errors)
    return false_positive, true_positive


def experiment(quick: bool, seed: int, out: Path) -> Trial:
    """One seed: train the auto-encoder on digits 0-4, score all test digits under both arms."""
    classes = list(NORMAL)
    agent = Supervised(ENV_ID, seed=seed, net="autoencoder", hidden=HIDDEN, bottleneck=BOTTLENECK,
                       epochs=20 if quick else 60, patience=8, env_kwargs={"classes": classes})  # fmt: skip
    agent.learn(run_dir=out / "autoencoder")
    x, is_anomaly = anomaly_split(TASK, classes, "test")  # (N, 1, 8, 8), (N,)
    errors = {
        "autoencoder": reconstruction_errors(agent.model, x),
        "PCA": pca_reconstruction_errors(load_task(TASK, "train", classes).x, x, BOTTLENECK),
    }
    figures = {arm: scores(arm_errors, is_anomaly) for arm, arm_errors in errors.items()}
    normal, anomalous = x[~is_anomaly][:SHOWN], x[is_anomaly][:SHOWN]
    with torch.no_grad():
        rebuilt = {name: agent.model(torch.as_tensor(images)).numpy() for name, images in
                   (("normal", normal), ("anomalous", anomalous))}  # fmt: skip
    panels = [
        Panel(
            "ROC: anomalies (5-9) by reconstruction error",
            {f"{arm} (AUC {figures[arm]['roc_auc']:.3f})": roc_points(e, is_anomaly) for arm, e in errors.items()},
            xlabel="false positive rate",
            ylabel="true positive rate",
        ),  # fmt: skip
        Panel(
            f"originals and auto-encoder reconstructions (bottleneck {BOTTLENECK})",
            image_rows={
                "0-4": normal,
                "rebuilt": rebuilt["normal"],
                "5-9": anomalous,
                "rebuilt ": rebuilt["anomalous"],
            },
            xlabel="",
            ylabel="",
        ),  # fmt: skip
    ]
    return Trial(figures, panels, runs=[str(out / "autoencoder")])


def condition(table: Table) -> bool:
    """The auto-encoder's mean ROC-AUC >= 0.85, and on every seed >= PCA's (same bottleneck)."""
    autoencoder, pca = table.values["autoencoder"]["roc_auc"], table.values["PCA"]["roc_auc"]
    return table.mean("autoencoder", "roc_auc") >= 0.85 and all(a >= p for a, p in zip(autoencoder, pca))


LECTURE = register(
    Lecture(
        name="anomaly",
        homework="HW8: anomaly detection (auto-encoder)",
        claim=f"An auto-encoder trained on digits 0-4 reconstructs 5-9 worse: its reconstruction error finds them "
        f"with ROC-AUC >= 0.85, at least as well as PCA with the same bottleneck ({BOTTLENECK}).",
        arms=("autoencoder", "PCA"),
        experiment=experiment,
        condition=condition,
        condition_text=f"test ROC-AUC (anomalies = digits 5-9): auto-encoder mean >= 0.85 and >= PCA with "
        f"{BOTTLENECK} components on every seed",
    )
)
