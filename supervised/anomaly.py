"""Anomaly detection by reconstruction (HW8): a model trained to reproduce the normal examples
reproduces anomalies worse, so the reconstruction error is an anomaly score.

- :func:`reconstruction_errors`: each example's mean squared reconstruction error under a model;
- :func:`pca_reconstruction_errors`: the same score for a linear baseline, scikit-learn's PCA
  fitted on the normal training examples;
- :func:`roc_auc`: how well a score ranks anomalies above normal examples (the probability that a
  random anomaly scores higher than a random normal example, ties counted half);
- :func:`anomaly_split`: a split of a task with classes, and which of its rows are anomalies
  (those outside the classes the model was trained on).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from supervised.registry import load_task, parse_classes, row_classes


@torch.no_grad()
def reconstruction_errors(model: nn.Module, x: np.ndarray, batch_size: int = 1024) -> np.ndarray:
    """Mean squared error between each input and ``model``'s reconstruction: (N, *shape) -> (N,)."""
    device = next(model.parameters()).device
    errors = []
    for start in range(0, len(x), batch_size):
        batch = torch.as_tensor(np.array(x[start : start + batch_size], dtype=np.float32), device=device)  # (B, *shape)
        reconstruction = model(batch).reshape(batch.shape)
        errors.append((reconstruction - batch).square().flatten(1).mean(dim=1).cpu())
    return torch.cat(errors).numpy().astype(np.float64)


def pca_reconstruction_errors(train_x: np.ndarray, x: np.ndarray, components: int) -> np.ndarray:
    """The reconstruction error of a ``components``-dimensional PCA fitted on ``train_x``: (N,)."""
    from sklearn.decomposition import PCA

    flat_train, flat = np.asarray(train_x).reshape(len(train_x), -1), np.asarray(x).reshape(len(x), -1)
    pca = PCA(n_components=components).fit(flat_train)
    reconstruction = pca.inverse_transform(pca.transform(flat))  # (N, D)
    return np.square(reconstruction - flat).mean(axis=1)


def roc_auc(scores: np.ndarray, is_anomaly: np.ndarray) -> float:
    """Area under the ROC curve of ``scores`` (higher = more anomalous) against ``is_anomaly``:
    P(score of a random anomaly > score of a random normal example) + P(tie) / 2 (Mann-Whitney)."""
    scores, is_anomaly = np.asarray(scores, dtype=np.float64), np.asarray(is_anomaly, dtype=bool)
    n_anomalies, n_normal = int(is_anomaly.sum()), int((~is_anomaly).sum())
    if n_anomalies == 0 or n_normal == 0:
        raise ValueError(f"ROC-AUC needs anomalies and normal examples; got {n_anomalies} and {n_normal}")
    _, inverse, counts = np.unique(scores, return_inverse=True, return_counts=True)
    ranks = (np.cumsum(counts) - (counts - 1) / 2.0)[inverse]  # 1-based ranks, ties share their mean
    return float((ranks[is_anomaly].sum() - n_anomalies * (n_anomalies + 1) / 2) / (n_anomalies * n_normal))


def anomaly_split(task: str, classes, split: str = "test") -> tuple[np.ndarray, np.ndarray]:
    """``(x, is_anomaly)``: every row of ``split`` of ``task`` (N, *obs_shape), and (N,) bools that
    are True for rows whose class is not in ``classes`` (the classes a detector was trained on)."""
    normal = parse_classes(classes)
    if normal is None:
        raise ValueError("anomalies are the classes a model was not trained on: train it with classes=0,1,... first")
    x = load_task(task, split).x
    is_anomaly = ~np.isin(row_classes(task, split), normal)
    return x, is_anomaly


def anomaly_figures(model: nn.Module, task: str, classes, split: str = "test") -> dict[str, float]:
    """A reconstruction model trained on ``classes`` of ``task``, judged on every row of ``split``:
    ``roc_auc`` of its reconstruction errors for anomalies (the other classes) against normal rows,
    the mean error of each group, and how many rows each holds."""
    x, is_anomaly = anomaly_split(task, classes, split)
    errors = reconstruction_errors(model, x)  # (N,)
    return {
        "roc_auc": roc_auc(errors, is_anomaly),
        "error_normal": float(errors[~is_anomaly].mean()),
        "error_anomaly": float(errors[is_anomaly].mean()),
        "n_normal": float((~is_anomaly).sum()),
        "n_anomaly": float(is_anomaly.sum()),
    }
