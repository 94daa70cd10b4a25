"""Known answers for the pieces the anomaly and ensemble lectures add, and the PNG's image grid."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lectures.anomaly import scores
from lectures.ensemble import accuracy, nll, rises
from lectures.runner import Panel, image_grid, plot


def test_rises_counts_the_steps_up():
    assert rises([3, 2, 2, 1]) == 0 and rises([1, 2, 2, 1, 3]) == 2 and rises([0.5]) == 0


def test_accuracy_and_nll_known_answers():
    logits = torch.log(torch.tensor([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]]))
    labels = torch.tensor([0, 1, 1])
    assert accuracy(logits, labels) == pytest.approx(2 / 3)
    assert nll(logits, labels) == pytest.approx(-(np.log(0.9) + np.log(0.8) + np.log(0.4)) / 3, rel=1e-6)
    assert accuracy(torch.stack([logits, logits]), labels) == pytest.approx(2 / 3)  # members: the mean of theirs


def test_anomaly_scores_known_answer():
    figures = scores(np.array([0.1, 0.2, 0.3, 0.05]), np.array([False, False, True, True]))
    assert figures["roc_auc"] == 0.5 and figures["error_normal"] == pytest.approx(0.15)
    assert figures["error_anomaly"] == pytest.approx(0.175)


def test_image_grid_puts_one_label_per_row_with_gaps():
    grid = image_grid({"a": np.ones((3, 1, 2, 2)), "b": np.zeros((2, 2, 2))})
    assert grid.shape == (2 * 3, 3 * 3)  # rows of (2 + 1) pixels, 3 columns of (2 + 1)
    assert np.isnan(grid[2]).all() and (grid[0, :2] == 1).all() and (grid[3, :2] == 0).all()
    assert np.isnan(grid[3, 6:]).all()  # row b has 2 images: its third cell is empty


def test_plot_draws_an_image_panel_beside_curves(tmp_path):
    panels = [Panel("curve", {"a": ([0, 1], [1.0, 0.5])}), Panel("digits", image_rows={"x": np.random.rand(4, 8, 8)})]
    image = plot(panels, "title", tmp_path / "p.png")
    assert (tmp_path / "p.png").stat().st_size > 0 and image.ndim == 3
