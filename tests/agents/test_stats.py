"""agents.stats against hand-computed values and against rliable (the paper's library) on fixed data."""

from __future__ import annotations

import numpy as np
import pytest

from agents import stats

rliable = pytest.importorskip("rliable", reason="rliable is the oracle (pip install gymlab[dev])")
from rliable import library as rly  # noqa: E402
from rliable import metrics as rly_metrics  # noqa: E402

# 20 seeds x 3 tasks of skewed returns, like an RL benchmark's (a few failed seeds).
SCORES = np.random.default_rng(7).gamma(2.0, 100.0, size=(20, 3))
OTHER = SCORES * 0.9 + np.random.default_rng(8).normal(0, 20, size=(20, 3))


def test_known_answers():
    scores = [1, 2, 3, 4, 5, 6, 7, 100]  # one task, 8 runs: the quarter cut drops 1, 2 and 7, 100
    assert stats.iqm(scores) == 4.5
    assert stats.mean(scores) == 16.0
    assert stats.median(scores) == 4.5
    assert stats.probability_of_improvement([2, 3], [1, 3]) == (1 + 0 + 1 + 0.5) / 4  # 2>1, 2<3, 3>1, 3=3


def test_point_estimates_equal_rliable():
    assert stats.iqm(SCORES) == pytest.approx(rly_metrics.aggregate_iqm(SCORES), abs=1e-9)
    assert stats.mean(SCORES) == pytest.approx(rly_metrics.aggregate_mean(SCORES), abs=1e-9)
    assert stats.probability_of_improvement(SCORES, OTHER) == pytest.approx(
        rly_metrics.probability_of_improvement(SCORES, OTHER), abs=1e-9
    )
    one_task = SCORES[:, :1]
    assert stats.median(one_task) == pytest.approx(np.median(one_task), abs=1e-9)


@pytest.mark.parametrize("statistic", ["iqm", "mean"])
def test_stratified_bootstrap_interval_agrees_with_rliable(statistic):
    ours = stats.bootstrap_interval(SCORES, stats.AGGREGATES[statistic], reps=20_000, seed=0)
    theirs_func = {"iqm": rly_metrics.aggregate_iqm, "mean": rly_metrics.aggregate_mean}[statistic]
    _, intervals = rly.get_interval_estimates({"x": SCORES}, lambda s: np.array([theirs_func(s)]), reps=20_000)
    low, high = intervals["x"][:, 0]
    width = high - low
    # different random streams: the ends agree to a few percent of the interval's width
    assert ours[0] == pytest.approx(low, abs=0.05 * width)
    assert ours[1] == pytest.approx(high, abs=0.05 * width)
    assert ours[0] < stats.AGGREGATES[statistic](SCORES) < ours[1]


def test_improvement_interval_contains_the_estimate_and_narrows_with_more_runs():
    low, high = stats.improvement_interval(SCORES, OTHER, reps=500)
    assert low < stats.probability_of_improvement(SCORES, OTHER) < high
    many = np.tile(SCORES, (5, 1)), np.tile(OTHER, (5, 1))
    many_low, many_high = stats.improvement_interval(*many, reps=500)
    assert many_high - many_low < high - low


def test_summary_is_json_ready_and_reads_as_a_row():
    summary = stats.summarize(SCORES[:, 0], reps=2_000)
    assert summary["runs"] == 20 and summary["iqm_low"] <= summary["iqm"] <= summary["iqm_high"]
    assert stats.summary_text(summary).startswith("mean ")
    assert all(isinstance(v, (int, float)) for v in summary.values())


@pytest.mark.parametrize("bad", [[], [[np.nan]], np.zeros((2, 2, 2))])
def test_bad_scores_are_refused(bad):
    with pytest.raises(ValueError, match="scores must"):
        stats.iqm(bad)
