"""Results over many seeds as statistics, as in Agarwal et al. 2021, "Deep RL at the Edge of the
Statistical Precipice" (NeurIPS): the interquartile mean (IQM), 95% stratified-bootstrap
confidence intervals, and the probability of improvement of one configuration over another.

Scores are arrays of shape ``(runs, tasks)``: one row per seed, one column per task (a 1-D array
is one task). "Stratified" means a bootstrap replicate resamples the runs of each task on its own,
so every task keeps its number of runs. Written in numpy; ``tests/agents/test_stats.py`` checks
the figures against rliable (the paper's library) on fixed data.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

REPS = 50_000
"""Bootstrap replicates (rliable's default)."""

CONFIDENCE = 0.95
"""Size of the confidence intervals."""

_CHUNK = 5_000  # replicates drawn at a time, to bound memory: (_CHUNK, runs, tasks) indices


def as_scores(scores) -> np.ndarray:
    """``scores`` as a float (runs, tasks) array; a 1-D array is one task. Raises ValueError on
    an empty array or a non-finite score."""
    array = np.asarray(scores, dtype=np.float64)
    if array.ndim == 1:
        array = array[:, None]
    if array.ndim != 2 or array.size == 0:
        raise ValueError(f"scores must be a non-empty (runs, tasks) array, got shape {array.shape}")
    if not np.isfinite(array).all():
        raise ValueError("scores must be finite (a run without a result has no score: leave it out)")
    return array


def iqm(scores) -> float:
    """Interquartile mean: the mean of the middle 50% of all scores (the lowest and highest
    quarter cut, as scipy.stats.trim_mean(proportiontocut=0.25) does over the flattened array)."""
    flat = np.sort(as_scores(scores), axis=None)
    cut = int(0.25 * flat.size)
    return float(flat[cut : flat.size - cut].mean())


def mean(scores) -> float:
    """The mean over every run and task."""
    return float(as_scores(scores).mean())


def median(scores) -> float:
    """The median of all scores (for one task: the median run). rliable's aggregate_median is the
    median over tasks of each task's mean, which for a single task is the mean."""
    return float(np.median(as_scores(scores)))


AGGREGATES: dict[str, Callable[[np.ndarray], float]] = {"mean": mean, "median": median, "iqm": iqm}
"""The aggregate figures reported for every configuration."""


def _batched(statistic: Callable[[np.ndarray], float]) -> Callable[[np.ndarray], np.ndarray]:
    """``statistic`` over a stack of replicates (B, runs, tasks) -> (B,)."""
    if statistic is mean:
        return lambda stack: stack.mean(axis=(1, 2))
    if statistic is median:
        return lambda stack: np.median(stack.reshape(len(stack), -1), axis=1)
    if statistic is iqm:

        def trimmed(stack: np.ndarray) -> np.ndarray:
            flat = np.sort(stack.reshape(len(stack), -1), axis=1)
            cut = int(0.25 * flat.shape[1])
            return flat[:, cut : flat.shape[1] - cut].mean(axis=1)

        return trimmed
    return lambda stack: np.array([statistic(replicate) for replicate in stack])


def bootstrap_interval(
    scores,
    statistic: Callable[[np.ndarray], float] = iqm,
    reps: int = REPS,
    confidence: float = CONFIDENCE,
    seed: int = 0,
) -> tuple[float, float]:
    """The percentile confidence interval of ``statistic`` under the stratified bootstrap: each
    replicate draws, for every task, as many runs as it has, with replacement."""
    array = as_scores(scores)
    runs, tasks = array.shape
    rng = np.random.default_rng(seed)
    batched, values = _batched(statistic), []
    for start in range(0, reps, _CHUNK):
        count = min(_CHUNK, reps - start)
        rows = rng.integers(0, runs, size=(count, runs, tasks))  # (B, runs, tasks) run index per task
        values.append(batched(np.take_along_axis(array[None].repeat(count, 0), rows, axis=1)))
    tail = 100 * (1 - confidence) / 2
    low, high = np.percentile(np.concatenate(values), [tail, 100 - tail])
    return float(low), float(high)


def probability_of_improvement(scores_x, scores_y) -> float:
    """P(X > Y): the chance that a run of X scores above a run of Y on the same task, ties
    counting half (the Mann-Whitney U statistic over runs_x * runs_y), averaged over tasks."""
    x, y = as_scores(scores_x), as_scores(scores_y)
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"X has {x.shape[1]} tasks and Y {y.shape[1]}; compare the same tasks")
    wins = (x[:, None, :] > y[None, :, :]).mean(axis=(0, 1))  # (tasks,)
    ties = (x[:, None, :] == y[None, :, :]).mean(axis=(0, 1))
    return float((wins + 0.5 * ties).mean())


def improvement_interval(
    scores_x, scores_y, reps: int = 2_000, confidence: float = CONFIDENCE, seed: int = 0
) -> tuple[float, float]:
    """The percentile interval of :func:`probability_of_improvement`, X's and Y's runs resampled
    independently within each task."""
    x, y = as_scores(scores_x), as_scores(scores_y)
    rng = np.random.default_rng(seed)
    values = np.empty(reps)
    for i in range(reps):
        rows_x = rng.integers(0, len(x), size=x.shape)
        rows_y = rng.integers(0, len(y), size=y.shape)
        values[i] = probability_of_improvement(np.take_along_axis(x, rows_x, 0), np.take_along_axis(y, rows_y, 0))
    tail = 100 * (1 - confidence) / 2
    low, high = np.percentile(values, [tail, 100 - tail])
    return float(low), float(high)


def summarize(scores, reps: int = REPS, seed: int = 0) -> dict[str, float]:
    """Every aggregate with its interval: ``{"runs", "mean", "mean_low", "mean_high", "median",
    ..., "iqm_high"}`` (JSON-ready)."""
    array = as_scores(scores)
    summary: dict[str, float] = {"runs": int(array.shape[0])}
    for name, statistic in AGGREGATES.items():
        summary[name] = statistic(array)
        summary[f"{name}_low"], summary[f"{name}_high"] = bootstrap_interval(array, statistic, reps, seed=seed)
    return summary


def summary_text(summary: dict[str, float]) -> str:
    """One table row: ``iqm 481.2 [455.0, 500.0]  mean ...  median ...  (n=20)``."""
    cells = [
        f"{name} {summary[name]:.4g} [{summary[name + '_low']:.4g}, {summary[name + '_high']:.4g}]"
        for name in AGGREGATES
    ]
    return "  ".join(cells) + f"  (n={summary['runs']})"
