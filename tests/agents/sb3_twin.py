"""An SB3 learner and a gymlab learner on the same weights and the same rollout, to compare one
update of each (tests/agents/test_ppo.py, test_a2c.py)."""

from __future__ import annotations

import numpy as np
import torch

from gymlab.sb3 import sb3_parameter_pairs


def sb3_after_one_rollout(cls, n_envs: int, n_steps: int, total: int, **kwargs):
    """SB3 learner ``cls`` (PPO or A2C) on CartPole-v1 with 64x64 tanh actor and critic, after
    collecting a rollout that holds the end of an episode (no training yet), its progress updated
    as ``learn()`` does before ``train()``."""
    from stable_baselines3.common.env_util import make_vec_env

    sb3 = cls(
        "MlpPolicy", make_vec_env("CartPole-v1", n_envs=n_envs, seed=0), n_steps=n_steps, seed=0, device="cpu",
        policy_kwargs={"net_arch": {"pi": [64, 64], "vf": [64, 64]}, **kwargs.pop("policy_kwargs", {})}, **kwargs,
    )  # fmt: skip
    _, callback = sb3._setup_learn(total, None)
    for _ in range(20):  # until a rollout holds the end of an episode (untrained: within ~30 steps)
        sb3.collect_rollouts(sb3.env, callback, sb3.rollout_buffer, n_rollout_steps=n_steps)
        if episode_ends(sb3).any():
            break
    sb3._update_current_progress_remaining(sb3.num_timesteps, total)
    return sb3


def episode_ends(sb3) -> np.ndarray:
    """``(n_steps, n_envs)``: where an episode ended in SB3's last rollout."""
    return np.concatenate([sb3.rollout_buffer.episode_starts[1:], sb3._last_episode_starts[None]]) > 0


def copy_weights(sb3, agent) -> None:
    """Give the gymlab learner's actor-critic SB3's weights."""
    with torch.no_grad():
        for mine, theirs in sb3_parameter_pairs(agent.policy, sb3.policy):
            mine.copy_(theirs)


def assert_same_weights(sb3, agent, rtol: float = 1e-5, atol: float = 5e-6) -> None:
    """Every weight of the two learners agrees up to float rounding."""
    for mine, theirs in sb3_parameter_pairs(agent.policy, sb3.policy):
        torch.testing.assert_close(mine.detach(), theirs.detach(), rtol=rtol, atol=atol)


def fill_buffer(sb3, agent) -> None:
    """Put SB3's rollout into the gymlab learner's buffer and finish it (gymlab's GAE), then check
    the returns against SB3's. SB3 keeps episode starts and folds a truncation's bootstrap into its
    reward, so every end it records goes in as a termination."""
    from stable_baselines3.common.utils import obs_as_tensor

    rollout, buffer, c = sb3.rollout_buffer, agent.buffer, agent.config
    ends = episode_ends(sb3)
    assert ends.any()
    no_truncations = np.zeros(rollout.n_envs, bool)
    for t in range(rollout.buffer_size):
        actions = rollout.actions[t, :, 0].astype(np.int64)
        buffer.add(rollout.observations[t], actions, rollout.log_probs[t], rollout.values[t], rollout.rewards[t],
                   ends[t], no_truncations)  # fmt: skip
    with torch.no_grad():
        last_values = sb3.policy.predict_values(obs_as_tensor(sb3._last_obs, "cpu")).numpy()[:, 0]
    buffer.finish(last_values, c.gamma, c.gae_lambda)
    np.testing.assert_allclose(buffer.returns, rollout.returns, rtol=1e-5, atol=1e-5)
    agent.num_timesteps = sb3.num_timesteps
