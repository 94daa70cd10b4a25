"""Tests for gymlab.dataset: the exact tensors a single-step env's split serves."""

import gymnasium as gym
import numpy as np
import pytest
import torch

import envs  # noqa: F401  (registers the env ids)
import gymlab


@pytest.mark.parametrize(
    ("env_id", "split", "env_kwargs"),
    [
        ("gymlab/Digits-v0", "test", {}),
        ("gymlab/Diabetes-v0", "val", {}),
        ("gymlab/Sequence-v0", "test", {}),
        ("gymlab/Digits-v0", "test", {"family": "permuted", "task_id": 2}),
        ("gymlab/Digits-v0", "val", {"family": "split", "task_id": 1}),
    ],
)
def test_dataset_is_what_the_env_serves(env_id, split, env_kwargs):
    X, y = gymlab.dataset(env_id, split, **env_kwargs)
    assert isinstance(X, torch.Tensor) and isinstance(y, torch.Tensor) and X.dtype == torch.float32
    env = gym.make(env_id, split=split, **env_kwargs)
    seen = set()
    obs, info = env.reset(seed=0)
    for _ in range(len(X)):  # one epoch serves every row once
        _, _, _, _, step_info = env.step(env.action_space.sample())
        np.testing.assert_array_equal(obs, X[info["index"]].numpy())
        np.testing.assert_array_equal(step_info["target"], y[info["index"]].numpy())
        seen.add(info["index"])
        obs, info = env.reset()
    assert seen == set(range(len(X)))


def test_dataset_refuses_what_is_not_a_fixed_task():
    with pytest.raises(ValueError, match="CartPole-v1 is not a dataset env"):
        gymlab.dataset("CartPole-v1")
    with pytest.raises(ValueError, match="family 'few-shot' needs task_id=K"):
        gymlab.dataset("gymlab/Digits-v0", family="few-shot")
