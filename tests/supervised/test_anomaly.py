"""Anomaly scores by reconstruction, and choosing a task's rows by class (classes=)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score
from torch import nn

from supervised.anomaly import anomaly_figures, anomaly_split, pca_reconstruction_errors, reconstruction_errors, roc_auc
from supervised.registry import load_task, parse_classes, row_classes


def test_roc_auc_known_answers():
    assert roc_auc([0.1, 0.2, 0.8, 0.9], [False, False, True, True]) == 1.0
    assert roc_auc([0.9, 0.8, 0.2, 0.1], [False, False, True, True]) == 0.0
    assert roc_auc([0.5, 0.5, 0.5], [False, True, True]) == 0.5  # ties count half
    # one anomaly above one of the two normal examples, below the other: 1/2
    assert roc_auc([0.1, 0.5, 0.3], [False, False, True]) == 0.5


def test_roc_auc_equals_scikit_learns_with_ties():
    rng = np.random.default_rng(0)
    scores = rng.integers(0, 6, 300).astype(float)  # many ties
    labels = rng.random(300) < scores / 8
    assert roc_auc(scores, labels) == pytest.approx(roc_auc_score(labels, scores), abs=1e-12)


def test_roc_auc_needs_both_groups():
    with pytest.raises(ValueError, match="anomalies and normal"):
        roc_auc([0.1, 0.2], [True, True])


def test_reconstruction_errors_are_per_example_mean_squared_errors():
    x = np.arange(12, dtype=np.float32).reshape(3, 1, 2, 2)
    assert (reconstruction_errors(_Copy(), x, batch_size=2) == 0).all()
    halve = nn.Sequential(nn.Flatten(), nn.Linear(4, 4, bias=False))
    with torch.no_grad():
        halve[1].weight.copy_(0.5 * torch.eye(4))
    expected = (0.5 * x.reshape(3, 4)) ** 2  # (x - x / 2)^2
    np.testing.assert_allclose(reconstruction_errors(halve, x, batch_size=2), expected.mean(axis=1), rtol=1e-6)


def test_pca_with_every_component_reconstructs_exactly_and_with_none_gives_the_variance():
    rng = np.random.default_rng(1)
    train, x = rng.normal(size=(50, 4)), rng.normal(size=(10, 4))
    assert pca_reconstruction_errors(train, x, 4).max() < 1e-20
    one = pca_reconstruction_errors(train, x, 1)
    assert (one > 0).all() and (one <= np.square(x - train.mean(axis=0)).mean(axis=1) + 1e-12).all()


def test_classes_keeps_only_those_rows_labels_unchanged():
    digits = load_task("digits", "train", "0,1")
    assert set(digits.y.tolist()) == {0, 1} and digits.n_classes == 10
    assert len(digits) == int(np.isin(load_task("digits", "train").y, [0, 1]).sum())
    images = load_task("digits-reconstruction", "train", [0, 1])
    np.testing.assert_array_equal(images.x, digits.x)  # the same rows of the same images
    np.testing.assert_array_equal(images.y, images.x)  # still a reconstruction task
    np.testing.assert_array_equal(row_classes("digits-reconstruction", "test"), load_task("digits", "test").y)


@pytest.mark.parametrize("given, expected", [("0,1,2", (0, 1, 2)), ("[3, 1]", (1, 3)), (2, (2,)), ([4, 4, 0], (0, 4)),
                                             (None, None)])  # fmt: skip
def test_parse_classes(given, expected):
    assert parse_classes(given) == expected


@pytest.mark.parametrize("given", ["a,b", ""])
def test_parse_classes_refuses_words(given):
    with pytest.raises(ValueError, match="classes"):
        parse_classes(given)


def test_a_task_without_classes_refuses_them():
    with pytest.raises(ValueError, match="no classes"):
        load_task("diabetes", "train", [0])


def test_anomaly_split_marks_the_other_classes():
    x, is_anomaly = anomaly_split("digits-reconstruction", [0, 1, 2, 3, 4])
    labels = load_task("digits", "test").y
    np.testing.assert_array_equal(is_anomaly, labels >= 5)
    assert len(x) == len(labels)
    with pytest.raises(ValueError, match="classes"):
        anomaly_split("digits-reconstruction", None)


def test_anomaly_figures_of_a_perfect_copier_cannot_tell_anomalies():
    figures = anomaly_figures(_Copy(), "digits-reconstruction", [0, 1, 2, 3, 4])
    assert figures["roc_auc"] == 0.5 and figures["error_normal"] == figures["error_anomaly"] == 0.0
    assert figures["n_normal"] + figures["n_anomaly"] == len(load_task("digits", "test"))


class _Copy(nn.Module):
    """Reconstructs every input exactly (one parameter, so it has a device)."""

    def __init__(self):
        super().__init__()
        self.unused = nn.Parameter(torch.zeros(()))

    def forward(self, x):
        return x.clone()
