"""Classification metrics beyond accuracy: precision, recall, F1 and ROC-AUC, in numpy.

Each function takes labels and predictions as numpy arrays or torch tensors, computes in float64,
and gives what :mod:`sklearn.metrics` gives with its default arguments (tests hold them equal to
1e-9):

- ``average="macro"``: the unweighted mean over the classes found in ``y_true`` or ``y_pred``;
- ``average="binary"``: the positive class (``pos_label=1``) alone;
- a class that is never predicted has precision 0 (and one absent from ``y_true`` recall 0), as
  scikit-learn's ``zero_division`` default reports it.

ROC-AUC is the probability that a random positive scores above a random negative, ties counted
half (Mann-Whitney U over average ranks): the area under the ROC curve, trapezoids included.
"""

from __future__ import annotations

from typing import Any

import numpy as np

AVERAGES: tuple[str, ...] = ("macro", "binary")
"""Values of ``average``."""


def as_numpy(values: Any) -> np.ndarray:
    """A numpy array of ``values`` (a torch tensor is detached and moved to the CPU)."""
    if hasattr(values, "detach"):
        values = values.detach().cpu().numpy()
    return np.asarray(values)


def class_counts(y_true, y_pred, average: str = "macro", pos_label: int = 1):
    """True positives, false positives and false negatives per class scored: ``(tp, fp, fn)``,
    each (K,) float64; K = every class seen in either array (macro) or 1 (binary)."""
    if average not in AVERAGES:
        raise ValueError(f"average must be one of {', '.join(AVERAGES)}; got {average!r}")
    y_true, y_pred = as_numpy(y_true).ravel(), as_numpy(y_pred).ravel()
    if y_true.shape != y_pred.shape:
        raise ValueError(f"y_true and y_pred must have the same length; got {len(y_true)} and {len(y_pred)}")
    classes = np.union1d(y_true, y_pred) if average == "macro" else np.array([pos_label])
    if average == "binary" and not set(np.unique(np.concatenate([y_true, y_pred]))) <= {0, 1}:
        raise ValueError("average='binary' needs labels 0 and 1 only; use average='macro' for more classes")
    true = y_true[:, None] == classes  # (N, K)
    predicted = y_pred[:, None] == classes  # (N, K)
    tp = (true & predicted).sum(axis=0).astype(np.float64)
    fp = (~true & predicted).sum(axis=0).astype(np.float64)
    fn = (true & ~predicted).sum(axis=0).astype(np.float64)
    return tp, fp, fn


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """numerator / denominator, 0 where the denominator is 0 (scikit-learn's zero_division)."""
    return np.divide(numerator, denominator, out=np.zeros_like(numerator), where=denominator > 0)


def precision(y_true, y_pred, average: str = "macro", pos_label: int = 1) -> float:
    """tp / (tp + fp): of the examples predicted as a class, the fraction that are."""
    tp, fp, _ = class_counts(y_true, y_pred, average, pos_label)
    return float(_ratio(tp, tp + fp).mean())


def recall(y_true, y_pred, average: str = "macro", pos_label: int = 1) -> float:
    """tp / (tp + fn): of the examples of a class, the fraction predicted as it."""
    tp, _, fn = class_counts(y_true, y_pred, average, pos_label)
    return float(_ratio(tp, tp + fn).mean())


def f1(y_true, y_pred, average: str = "macro", pos_label: int = 1) -> float:
    """The harmonic mean of precision and recall per class, 2 tp / (2 tp + fp + fn), then averaged."""
    tp, fp, fn = class_counts(y_true, y_pred, average, pos_label)
    return float(_ratio(2 * tp, 2 * tp + fp + fn).mean())


def average_ranks(scores: np.ndarray) -> np.ndarray:
    """1-based ranks of ``scores`` (N,), tied values sharing the mean of their ranks: (N,)."""
    order = np.argsort(scores, kind="mergesort")
    _, first, counts = np.unique(scores[order], return_index=True, return_counts=True)
    ranks = np.empty(len(scores), dtype=np.float64)
    ranks[order] = np.repeat(first + (counts + 1) / 2.0, counts)  # a tie group's ranks first+1 .. first+count
    return ranks


def binary_roc_auc(is_positive: np.ndarray, scores: np.ndarray) -> float:
    """P(score of a random positive > score of a random negative) + P(tie) / 2, from (N,) bools
    and (N,) scores; ValueError when only one class is present."""
    n_positive = int(is_positive.sum())
    n_negative = len(is_positive) - n_positive
    if n_positive == 0 or n_negative == 0:
        raise ValueError("ROC-AUC needs examples of both classes in y_true")
    rank_sum = average_ranks(scores.astype(np.float64))[is_positive].sum()
    return float((rank_sum - n_positive * (n_positive + 1) / 2.0) / (n_positive * n_negative))


def roc_auc(y_true, scores) -> float:
    """Area under the ROC curve. Binary: ``scores`` (N,) rank class 1 (a probability, a logit, any
    score). Multi-class: ``scores`` (N, C), column c the score of class c (e.g. softmax
    probabilities); the mean over classes of class c against the rest (one-vs-rest, macro).
    Classes absent from ``y_true`` are left out of the mean (scikit-learn refuses such input)."""
    y_true, scores = as_numpy(y_true).ravel(), as_numpy(scores)
    if scores.ndim == 1 or scores.shape[1] == 1:
        return binary_roc_auc(y_true == 1, scores.ravel())
    if len(scores) != len(y_true):
        raise ValueError(f"scores must be (N, C) with N = {len(y_true)}; got {scores.shape}")
    present = [c for c in range(scores.shape[1]) if 0 < (y_true == c).sum() < len(y_true)]
    if not present:
        raise ValueError("ROC-AUC needs examples of at least two classes in y_true")
    return float(np.mean([binary_roc_auc(y_true == c, scores[:, c]) for c in present]))


def classification_report(logits, y_true) -> dict[str, float]:
    """The metrics a classifier is reported by, from its logits (N, C) and labels (N,):
    ``precision_macro``, ``recall_macro``, ``f1_macro``, ``roc_auc`` (softmax probabilities;
    one-vs-rest macro for C > 2), and for C = 2 the binary ``precision``, ``recall`` and ``f1``
    of class 1. ROC-AUC is left out when ``y_true`` holds a single class."""
    logits, y_true = as_numpy(logits).astype(np.float64), as_numpy(y_true).ravel()
    y_pred = logits.argmax(axis=1)
    report = {
        "precision_macro": precision(y_true, y_pred),
        "recall_macro": recall(y_true, y_pred),
        "f1_macro": f1(y_true, y_pred),
    }
    if logits.shape[1] == 2 and set(np.unique(y_true)) <= {0, 1}:
        report.update(precision=precision(y_true, y_pred, "binary"), recall=recall(y_true, y_pred, "binary"),
                      f1=f1(y_true, y_pred, "binary"))  # fmt: skip
    if len(np.unique(y_true)) > 1:
        shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
        probabilities = shifted / shifted.sum(axis=1, keepdims=True)  # (N, C) softmax
        report["roc_auc"] = roc_auc(y_true, probabilities[:, 1] if logits.shape[1] == 2 else probabilities)
    return report
