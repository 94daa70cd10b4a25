"""Tests for supervised.families and the env that serves them: schedules, permutations, class
groups, support/query sets, relabelling."""

import gymnasium as gym
import numpy as np
import pytest

import envs  # noqa: F401  (registers the env ids)
from supervised import load_task
from supervised.families import build_family, few_shot, permuted, sine, split


def test_permuted_tasks_are_fixed_by_the_seed_and_task_zero_is_the_base():
    family = permuted("digits", n_tasks=3, seed=5)
    base = load_task("digits", "test")
    np.testing.assert_array_equal(family.dataset(0, "test").x, base.x)
    order = family.permutation(2)
    assert sorted(order) == list(range(64)) and not np.array_equal(order, np.arange(64))
    np.testing.assert_array_equal(order, permuted("digits", n_tasks=3, seed=5).permutation(2))
    assert not np.array_equal(order, permuted("digits", n_tasks=3, seed=6).permutation(2))
    task2 = family.dataset(2, "test")  # every task's test split is reachable, pixels moved, labels kept
    np.testing.assert_array_equal(task2.x.reshape(len(base), -1), base.x.reshape(len(base), -1)[:, order])
    np.testing.assert_array_equal(task2.y, base.y)


def test_split_tasks_hold_groups_of_classes():
    family = split("digits", n_tasks=5)
    assert [family.classes(k).tolist() for k in range(5)] == [[0, 1], [2, 3], [4, 5], [6, 7], [8, 9]]
    for k in range(5):
        test = family.dataset(k, "test")
        assert set(np.unique(test.y)) == {2 * k, 2 * k + 1}
        base = load_task("digits", "test")
        assert len(test) == np.isin(base.y, [2 * k, 2 * k + 1]).sum()


def test_schedule_switches_at_the_given_steps():
    family = permuted("digits", n_tasks=3, switch_steps=[4, 10])
    assert [family.task_at(s) for s in (0, 3, 4, 9, 10, 500)] == [0, 0, 1, 1, 2, 2]
    env = gym.make("gymlab/Digits-v0", family="permuted", n_tasks=3, switch_steps=[4, 10])
    seen = []
    for _ in range(12):
        obs, info = env.reset(seed=0 if not seen else None)
        env.step(0)
        seen.append(info["task_id"])
        task = family.dataset(info["task_id"], "train")
        np.testing.assert_array_equal(obs, task.x[info["index"]])  # served from that task's data
    assert seen == [0] * 4 + [1] * 6 + [2] * 2
    assert permuted("digits", n_tasks=3).switch_steps == (1258, 2516)  # default: one train split per task


def test_task_id_fixes_one_task_on_any_split():
    env = gym.make("gymlab/Digits-v0", family="split", task_id=3, split="test")
    labels = set()
    for _ in range(40):
        _, info = env.reset()
        _, _, _, _, step_info = env.step(0)
        labels.add(step_info["target"])
        assert info["task_id"] == 3
    assert labels == {6, 7}


def test_few_shot_support_and_query_are_disjoint_and_relabelled():
    family = few_shot("digits", n_way=3, k_shot=2, n_query=4)
    rng = np.random.default_rng(0)
    base = load_task("digits", "train")
    for _ in range(5):
        task = family.sample(rng)
        classes = task.params["classes"]
        assert len(set(classes)) == 3
        assert sorted(task.support_y.tolist()) == [0, 0, 1, 1, 2, 2] and np.bincount(task.query_y).tolist() == [4] * 3
        support, query = task.params["support_rows"], task.params["query_rows"]
        assert not set(support) & set(query) and len(set(support)) == 6 and len(set(query)) == 12
        np.testing.assert_array_equal(task.support_x, base.x[support])
        np.testing.assert_array_equal(task.query_x, base.x[query])
        np.testing.assert_array_equal(np.array(classes)[task.query_y], base.y[query])  # label i: i-th class drawn
        np.testing.assert_array_equal(np.array(classes)[task.support_y], base.y[support])


def test_few_shot_env_draws_a_new_task_when_the_queries_are_used():
    env = gym.make("gymlab/Digits-v0", family="few-shot", n_way=2, k_shot=1, n_query=3)
    assert env.action_space == gym.spaces.Discrete(2)
    draws = []
    for i in range(12):
        _, info = env.reset(seed=0 if i == 0 else None)
        draws.append(info["task_id"])
        assert info["support_x"].shape == (2, 1, 8, 8) and info["support_y"].tolist() == [0, 1]
        env.step(0)
    assert draws == [0] * 6 + [1] * 6  # 2 classes x 3 queries per task


def test_sine_tasks_draw_amplitude_and_phase():
    family = sine("sine", k_shot=5, n_query=7)
    task = family.sample(np.random.default_rng(1))
    a, phase = task.params["amplitude"], task.params["phase"]
    assert 0.1 <= a <= 5.0 and 0.0 <= phase <= np.pi
    np.testing.assert_allclose(task.support_y, a * np.sin(task.support_x[:, 0] - phase), rtol=1e-5)
    np.testing.assert_allclose(task.query_y, a * np.sin(task.query_x[:, 0] - phase), rtol=1e-5)
    assert task.support_x.shape == (5, 1) and task.query_x.shape == (7, 1)
    env = gym.make("gymlab/Sine-v0", family="sine", k_shot=5, n_query=7)
    obs, info = env.reset(seed=0)
    _, reward, _, _, step_info = env.step(np.zeros(1, np.float32))
    assert reward == pytest.approx(-(step_info["target"] ** 2)) and info["support_y"].shape == (5,)


@pytest.mark.parametrize(
    ("task", "kwargs", "message"),
    [
        ("digits", {"family": "rotated"}, "task 'digits' has no family 'rotated'; its families: permuted, split, few-shot, labelled, kfold"),
        ("diabetes", {"family": "permuted"}, "task 'diabetes' has no family 'permuted'; its families: kfold"),
        ("digits", {"family": "permuted", "n_way": 3}, "family 'permuted' takes n_tasks, switch_every, switch_steps, seed; got n_way"),
        ("digits", {"n_tasks": 3}, "unexpected env kwargs n_tasks for task 'digits'; family kwargs need family=NAME"),
        ("digits", {"family": "split", "n_tasks": 11}, r"n_tasks must be in \[1, 10\]"),
        ("digits", {"family": "permuted", "n_tasks": 3, "switch_steps": [5]}, "switch_steps must be 2 increasing"),
        ("digits", {"family": "few-shot", "n_way": 11}, r"n_way must be in \[2, 10\]"),
    ],
)  # fmt: skip
def test_bad_family_arguments_say_what_fits(task, kwargs, message):
    family = kwargs.pop("family", None)
    with pytest.raises(ValueError, match=message):
        build_family(task, family, kwargs)
