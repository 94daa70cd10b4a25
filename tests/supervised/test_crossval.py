"""supervised.crossval: folds that are disjoint, cover the train split, stratified for classification,
and the kfold family every task has."""

import gymnasium as gym
import numpy as np
import pytest

import envs  # noqa: F401  (registers the env ids)
from envs.single_step import SingleStepVectorEnv
from supervised import load_task
from supervised.crossval import fold_of_each_row, fold_task, kfold


@pytest.mark.parametrize(("task", "folds"), [("wine", 5), ("iris", 3), ("breast-cancer", 10), ("diabetes", 4)])
def test_folds_are_disjoint_and_cover_the_train_split(task, folds):
    n = len(load_task(task, "train"))
    splits = kfold(task, folds, seed=1)
    held_out = np.concatenate([rows for _, rows in splits])
    assert len(splits) == folds and np.array_equal(np.sort(held_out), np.arange(n))  # each row held out once
    sizes = [len(rows) for _, rows in splits]
    assert max(sizes) - min(sizes) <= 1
    for train_rows, rows in splits:
        assert np.array_equal(np.sort(np.concatenate([train_rows, rows])), np.arange(n))
        assert not np.intersect1d(train_rows, rows).size


@pytest.mark.parametrize(("task", "folds"), [("wine", 5), ("iris", 3), ("breast-cancer", 10), ("digits", 7)])
def test_classification_folds_are_stratified(task, folds):
    y = load_task(task, "train").y
    for _, rows in kfold(task, folds, seed=0):
        for label in np.unique(y):
            share = (y == label).sum() / folds  # this class's rows per fold
            assert np.floor(share) <= (y[rows] == label).sum() <= np.ceil(share)


def test_unstratified_folds_can_miss_the_class_balance():
    y = np.repeat([0, 1], [10, 90])  # the rare class: 2 per fold when stratified
    stratified = fold_of_each_row(y, 5, seed=0, stratified=True)
    assert all((y[stratified == k] == 0).sum() == 2 for k in range(5))
    counts = [[(y[fold_of_each_row(y, 5, seed=s) == k] == 0).sum() for k in range(5)] for s in range(20)]
    assert any(c != [2] * 5 for c in counts)  # a plain shuffle does not hold the balance


def test_folds_depend_on_the_seed_only():
    first, again, other = kfold("wine", 5, seed=0), kfold("wine", 5, seed=0), kfold("wine", 5, seed=1)
    assert all(np.array_equal(a[1], b[1]) for a, b in zip(first, again))
    assert not all(np.array_equal(a[1], b[1]) for a, b in zip(first, other))


def test_kfold_family_serves_train_less_the_fold_the_fold_as_val_and_the_test_split():
    train, test = load_task("wine", "train"), load_task("wine", "test")
    task = fold_task("wine", folds=4, fold=2, seed=0)
    train_rows, held_out = kfold("wine", 4, seed=0)[2]
    np.testing.assert_array_equal(task.dataset("train").indices, train.indices[train_rows])
    np.testing.assert_array_equal(task.dataset("val").x, train.x[held_out])
    assert task.dataset("val").split == "val" and task.dataset("test").indices.tolist() == test.indices.tolist()
    env = gym.make("gymlab/Wine-v0", family="kfold", folds=4, fold=2, split="val")
    _, info = env.reset(seed=0)
    assert len(env.unwrapped.dataset) == len(held_out) and info["task_id"] == 2
    batched = SingleStepVectorEnv("wine", 8, "train", family="kfold", folds=4, fold=2)
    assert len(batched.dataset) == len(train_rows)


def test_bad_folds_are_refused():
    with pytest.raises(ValueError, match=r"fold must be in \[0, 3\] for folds=4; got 4"):
        fold_task("wine", folds=4, fold=4)
    with pytest.raises(ValueError, match=r"folds must be in \[2, 125\] for 125 rows; got 1"):
        fold_task("wine", folds=1, fold=0)
    with pytest.raises(ValueError, match="family 'kfold' takes folds, fold, seed; got k"):
        gym.make("gymlab/Wine-v0", family="kfold", k=3)
