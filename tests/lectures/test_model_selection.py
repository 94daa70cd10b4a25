"""lectures.model_selection: the grid and the random draws, and the metrics' comparison with sklearn."""

import numpy as np
import pytest
import torch

from lectures.model_selection import (
    GRAD_NORM_CLIPS,
    LEARNING_RATES,
    TRIALS,
    grid_configurations,
    grid_points,
    log_uniform,
    random_configurations,
    sklearn_differences,
)


def test_grid_points_are_the_centres_of_log_thirds():
    np.testing.assert_allclose(grid_points(1e-4, 1e-1, 3), [10**-3.5, 10**-2.5, 10**-1.5], rtol=1e-12)
    np.testing.assert_allclose(grid_points(1.0, 100.0, 2), [10**0.5, 10**1.5], rtol=1e-12)


def test_log_uniform_is_uniform_in_the_log():
    draws = log_uniform(np.random.default_rng(0), 1e-4, 1e-1, 20_000)
    assert draws.min() >= 1e-4 and draws.max() <= 1e-1
    counts, _ = np.histogram(np.log10(draws), bins=3, range=(-4, -1))
    assert np.all(np.abs(counts / len(draws) - 1 / 3) < 0.02)  # each decade a third of the draws


def test_the_grid_tries_three_learning_rates_and_random_search_nine():
    grid, random = grid_configurations(), random_configurations(seed=0)
    assert len(grid) == len(random) == TRIALS
    assert len({lr for lr, _ in grid}) == 3 and len({clip for _, clip in grid}) == 3
    assert len({lr for lr, _ in random}) == 9
    for lr, clip in [*grid, *random]:
        assert LEARNING_RATES[0] <= lr <= LEARNING_RATES[1] and GRAD_NORM_CLIPS[0] <= clip <= GRAD_NORM_CLIPS[1]
    assert random_configurations(seed=0) == random and random_configurations(seed=1) != random


@pytest.mark.parametrize("n_classes", [2, 3])
def test_supervised_metrics_equal_sklearns_on_the_same_logits(n_classes):
    generator = torch.Generator().manual_seed(n_classes)
    y = torch.randint(0, n_classes, (60,), generator=generator).numpy()
    logits = torch.randn(60, n_classes, generator=generator) + 2 * torch.eye(n_classes)[y]
    report, difference = sklearn_differences(logits, y)
    assert difference <= 1e-9
    assert ("f1" in report) == (n_classes == 2) and 0.5 < report["roc_auc"] < 1.0
