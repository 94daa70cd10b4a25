"""supervised.metrics against sklearn.metrics on random data, ties included, to 1e-9."""

import numpy as np
import pytest
import torch
from sklearn import metrics as sk

from supervised import metrics

CASES = [(2, 0), (2, 1), (3, 2), (5, 3), (10, 4)]  # (classes, seed)


def random_labels(n_classes: int, seed: int, n: int = 200):
    """Labels, noisy predictions (some classes never predicted) and scores with many ties."""
    rng = np.random.default_rng(seed)
    y_true = rng.integers(0, n_classes, n)
    y_pred = np.where(rng.random(n) < 0.6, y_true, rng.integers(0, max(n_classes - 1, 2), n))
    scores = rng.random((n, n_classes)) + 0.5 * np.eye(n_classes)[y_true]
    scores = np.round(scores, 1)  # about 15 distinct values: ties everywhere
    return y_true, y_pred, scores / scores.sum(axis=1, keepdims=True)


@pytest.mark.parametrize(("n_classes", "seed"), CASES)
@pytest.mark.parametrize(("ours", "theirs"), [(metrics.precision, sk.precision_score),
                                              (metrics.recall, sk.recall_score), (metrics.f1, sk.f1_score)])  # fmt: skip
def test_macro_and_binary_equal_sklearn(n_classes, seed, ours, theirs):
    y_true, y_pred, _ = random_labels(n_classes, seed)
    assert abs(ours(y_true, y_pred) - theirs(y_true, y_pred, average="macro", zero_division=0)) < 1e-9
    if n_classes == 2:
        assert abs(ours(y_true, y_pred, "binary") - theirs(y_true, y_pred, zero_division=0)) < 1e-9
    assert abs(ours(torch.tensor(y_true), torch.tensor(y_pred)) - ours(y_true, y_pred)) == 0  # tensors too


def test_a_never_predicted_class_counts_zero_precision():
    y_true, y_pred = np.array([0, 1, 2, 2]), np.array([0, 1, 1, 1])
    # precisions 1, 1/3, 0 -> 4/9; recalls 1, 1, 0 -> 2/3
    assert metrics.precision(y_true, y_pred) == pytest.approx(4 / 9, abs=1e-12)
    assert metrics.recall(y_true, y_pred) == pytest.approx(2 / 3, abs=1e-12)
    assert metrics.f1(y_true, y_pred) == pytest.approx((1 + 0.5 + 0) / 3, abs=1e-12)


@pytest.mark.parametrize(("n_classes", "seed"), CASES)
def test_roc_auc_equals_sklearn_with_ties(n_classes, seed):
    y_true, _, scores = random_labels(n_classes, seed)
    if n_classes == 2:
        expected = sk.roc_auc_score(y_true, scores[:, 1])
        assert abs(metrics.roc_auc(y_true, scores[:, 1]) - expected) < 1e-9
    else:
        expected = sk.roc_auc_score(y_true, scores, multi_class="ovr", average="macro")
        assert abs(metrics.roc_auc(y_true, scores) - expected) < 1e-9
    assert 0.5 < expected < 1.0  # a score that is informative but not perfect


def test_roc_auc_known_answers():
    assert metrics.roc_auc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) == 0.75  # the sklearn docs' example
    assert metrics.roc_auc([0, 1], [0.5, 0.5]) == 0.5  # a tie counts half
    assert metrics.roc_auc([1, 1, 0], [3.0, 2.0, 1.0]) == 1.0
    with pytest.raises(ValueError, match="both classes"):
        metrics.roc_auc([1, 1], [0.2, 0.3])


def test_average_ranks_share_ties():
    np.testing.assert_array_equal(metrics.average_ranks(np.array([3.0, 1.0, 3.0, 2.0])), [3.5, 1.0, 3.5, 2.0])


def test_classification_report_from_logits():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 100)
    logits = rng.normal(size=(100, 2)) + 1.5 * np.eye(2)[y]
    report = metrics.classification_report(torch.tensor(logits), torch.tensor(y))
    y_pred = logits.argmax(1)
    probabilities = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    assert abs(report["f1"] - sk.f1_score(y, y_pred)) < 1e-9
    assert abs(report["f1_macro"] - sk.f1_score(y, y_pred, average="macro")) < 1e-9
    assert abs(report["roc_auc"] - sk.roc_auc_score(y, probabilities[:, 1])) < 1e-9
    three = metrics.classification_report(np.eye(3)[[0, 1, 2, 2]], np.array([0, 1, 2, 1]))
    assert set(three) == {"precision_macro", "recall_macro", "f1_macro", "roc_auc"}


def test_bad_average_is_refused():
    with pytest.raises(ValueError, match="average must be one of macro, binary"):
        metrics.f1([0, 1], [0, 1], average="micro")
    with pytest.raises(ValueError, match="labels 0 and 1 only"):
        metrics.f1([0, 2], [0, 1], average="binary")
