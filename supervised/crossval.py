"""K-fold cross-validation of a task's train split, and the ``kfold`` family every task has.

The train split's rows are dealt into ``folds`` disjoint folds that together cover it;
classification folds are stratified (each fold holds every class in the train split's
proportions, to within one example per class), as scikit-learn's ``StratifiedKFold`` makes
them. Fold ``k`` of the family serves:

    train  the train split without fold k
    val    fold k (the held-out rows the fold is scored on)
    test   the test split, untouched

so ``gym.make("gymlab/Wine-v0", family="kfold", folds=5, fold=2)`` is an ordinary env, and a
learner trained on it is an ordinary run (``agents.cross_validate`` trains all K).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from supervised.registry import Dataset, check_split, get_task, load_task


def fold_of_each_row(y: np.ndarray, folds: int, seed: int = 0, stratified: bool = False) -> np.ndarray:
    """The fold (0..folds-1) of each of the N rows with targets ``y`` (N, ...): (N,) int64.

    Rows are shuffled with ``seed``, then dealt round-robin: over all rows, or class by class
    when ``stratified`` (so every fold gets each class's count divided by ``folds``, rounded
    up or down). Fold sizes differ by at most one in both cases."""
    n = len(y)
    if not 2 <= folds <= n:
        raise ValueError(f"folds must be in [2, {n}] for {n} rows; got {folds}")
    rng = np.random.default_rng(seed)
    fold = np.empty(n, dtype=np.int64)
    if not stratified:
        fold[rng.permutation(n)] = np.arange(n) % folds
        return fold
    start = 0  # the next class starts dealing where the last one stopped, so fold sizes stay even
    for label in np.unique(y):
        rows = rng.permutation(np.flatnonzero(y == label))
        fold[rows] = (start + np.arange(len(rows))) % folds
        start = (start + len(rows)) % folds
    return fold


def is_stratified(task: str) -> bool:
    """Whether ``task``'s folds are stratified: one class label per example (classification)."""
    return get_task(task).kind.name == "classification"


def kfold(task: str, folds: int = 5, seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """``[(train_rows, held_out_rows), ...]``, one pair per fold, as positions in ``task``'s
    train split (``load_task(task, "train").x[rows]``): scikit-learn's ``KFold(shuffle=True)``
    for real-valued tasks, ``StratifiedKFold(shuffle=True)`` for classification."""
    y = load_task(task, "train").y
    fold = fold_of_each_row(y, folds, seed, is_stratified(task))
    return [(np.flatnonzero(fold != k), np.flatnonzero(fold == k)) for k in range(folds)]


@dataclass(frozen=True)
class FoldTask:
    """Fold ``fold`` of ``folds`` of a task's train split: what :func:`fold_task` returns and the
    envs serve for ``family="kfold"``."""

    base: str
    """The task whose train split is folded."""
    folds: int
    """Number of folds K."""
    fold: int
    """The held-out fold, 0..K-1."""
    seed: int = 0
    """Seed of the shuffle that deals the rows into folds."""

    def dataset(self, split: str = "train") -> Dataset:
        """``train``: the train split less the fold; ``val``: the fold; ``test``: the test split."""
        check_split(split)
        if split == "test":
            return load_task(self.base, "test")
        train_rows, held_out = kfold(self.base, self.folds, self.seed)[self.fold]
        return load_task(self.base, "train").subset(train_rows if split == "train" else held_out, split=split)


def fold_task(base: str, folds: int = 5, fold: int = 0, seed: int = 0) -> FoldTask:
    """The ``kfold`` family: fold ``fold`` of ``folds`` of ``base``'s train split held out as
    its val split; ValueError when ``fold`` is not in 0..folds-1."""
    folds, fold = int(folds), int(fold)
    if not 0 <= fold < folds:
        raise ValueError(f"fold must be in [0, {folds - 1}] for folds={folds}; got {fold}")
    task = FoldTask(base, folds, fold, int(seed))
    kfold(base, folds, task.seed)  # refuses folds out of range now, not when the env resets
    return task
