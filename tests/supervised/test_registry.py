"""Tests for supervised.registry: declarations, env ids, register_task and its refusals."""

import numpy as np
import pytest

from supervised import TASKS, load_task, register_task
from supervised.registry import env_name, get_task, listed_tasks, task_for_env_id


@pytest.fixture
def registry_restored():
    """Tasks registered in a test are gone after it."""
    before = dict(TASKS)
    yield
    TASKS.clear()
    TASKS.update(before)


def test_env_ids_capitalise_the_words_of_the_name():
    assert env_name("digits") == "Digits" and env_name("digits-reconstruction") == "DigitsReconstruction"
    assert get_task("digits").env_id == "gymlab/Digits-v0"
    assert task_for_env_id("gymlab/Sequence-v0").name == "sequence" and task_for_env_id("CartPole-v1") is None


def test_unknown_task_names_the_known_ones():
    with pytest.raises(ValueError, match=f"unknown task 'mnist'; known: {', '.join(listed_tasks())}$"):
        get_task("mnist")


def test_registered_task_is_split_70_15_15_with_rows_kept_together(registry_restored):
    x = np.arange(200, dtype=np.float32).reshape(100, 2)
    register_task("pairs", load=lambda: (x, x.sum(1)), kind="regression")
    parts = [load_task("pairs", split) for split in ("train", "val", "test")]
    assert [len(p) for p in parts] == [70, 15, 15]
    for part in parts:
        np.testing.assert_array_equal(part.y, part.x.sum(1))  # rows stay paired through the split
    assert get_task("pairs").env_id == "gymlab/Pairs-v0" and "pairs" in listed_tasks()


def test_classes_are_counted_and_generators_get_their_seed(registry_restored):
    register_task("three", load=lambda: (np.eye(3, dtype=np.float32)[np.arange(60) % 3], np.arange(60) % 3),
                  kind="classification")  # fmt: skip
    assert load_task("three", "test").n_classes == 3
    register_task("noise", load=lambda rng: (rng.normal(size=(40, 1)), rng.normal(size=40)), kind="regression", seed=7)
    rng = np.random.default_rng(7)
    x = rng.normal(size=(40, 1)).astype(np.float32)
    assert np.isin(load_task("noise", "train").x, x).all()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"name": "digits"}, "task 'digits' is already registered; pick another name$"),
        ({"name": "no spaces"}, "task name must be a letter then letters"),
        ({"kind": "ranking"}, "unknown kind 'ranking'; known: classification, regression"),
        ({"load": lambda: np.zeros((30, 2))}, r"load\(\) must return \(x, y\), e.g. lambda: load_wine"),
        ({"load": lambda: (np.zeros(30), np.zeros(30))}, r"x must be \(N, \*obs_shape\).*use x.reshape\(-1, 1\)"),
        ({"load": lambda: (np.zeros((30, 2)), np.zeros(29))}, r"with N = 30 inputs; got y of shape \(29,\)"),
        ({"load": lambda: (np.zeros((10, 2)), np.zeros(10))}, "has 10 examples; 70/15/15 splits need at least 20"),
        ({"load": lambda: (np.full((30, 2), np.nan), np.zeros(30))}, "x holds NaN or inf"),
        ({"load": "wine.csv"}, "load must be a function returning"),
    ],
)
def test_register_task_refuses_bad_input_with_the_fix(kwargs, message, registry_restored):
    args = {"name": "ok", "load": lambda: (np.zeros((30, 2)), np.zeros(30)), "kind": "regression", **kwargs}
    before = list(TASKS)
    with pytest.raises(ValueError, match=message):
        register_task(args.pop("name"), **args)
    assert list(TASKS) == before  # a refused task leaves the registry as it was


def test_a_registered_name_is_replaced_only_when_asked(registry_restored):
    register_task("mine", load=lambda: (np.zeros((30, 2)), np.zeros(30)), kind="regression")
    with pytest.raises(ValueError, match="task 'mine' is already registered; pick another name, or pass replace=True"):
        register_task("mine", load=lambda: (np.ones((30, 2)), np.zeros(30)), kind="regression")
    register_task("mine", load=lambda: (np.ones((30, 2)), np.zeros(30)), kind="regression", replace=True)
    assert load_task("mine", "train").x.min() == 1.0  # the cache was dropped with the old arrays


def test_register_task_makes_an_env_id_in_the_same_session(registry_restored):
    import gymnasium as gym

    import envs  # noqa: F401  (env ids follow the registry from now on)

    register_task("halves", load=lambda: (np.linspace(-1, 1, 40)[:, None], np.arange(40) >= 20), kind="classification")
    env = gym.make("gymlab/Halves-v0")
    obs, _ = env.reset(seed=0)
    _, reward, terminated, _, info = env.step(int(obs[0] >= 0))
    assert terminated and reward == 1.0 and info["accuracy"] == 1.0
