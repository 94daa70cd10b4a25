"""Known answers for rollout storage: GAE with a termination and a truncation, discounted returns."""

import math

import numpy as np
import pytest
import torch

from agents.rollout import RewardScaler, RolloutBuffer, discounted_returns, gae

GAMMA, LAMBDA = 0.9, 0.8


def two_env_rollout():
    """3 steps x 2 envs. Env 0 terminates at t=1; env 1 is truncated at t=0 (V(final obs) = 5)."""
    rewards = np.array([[1, 1], [2, 1], [3, 1]], np.float32)
    values = np.array([[0.5, 0.2], [1.0, 0.4], [1.5, 0.6]], np.float32)
    terminated = np.array([[0, 0], [1, 0], [0, 0]], np.float32)
    truncated = np.array([[0, 1], [0, 0], [0, 0]], np.float32)
    final_values = np.array([[0, 5.0], [0, 0], [0, 0]], np.float32)
    last_values = np.array([2.0, 1.0], np.float32)
    return rewards, values, terminated, truncated, final_values, last_values


# Hand-computed: delta_t = r_t + gamma * V(next) * (1 - terminated_t) - V_t, where V(next) is
# V(final obs) after a truncation; A_t = delta_t + gamma * lambda * (1 - done_t) * A_{t+1}.
#   env 0: A_2 = 3 + .9*2 - 1.5 = 3.3;  A_1 = 2 - 1 = 1.0 (terminated);  A_0 = 1 + .9*1 - .5 + .72*1.0 = 2.12
#   env 1: A_2 = 1 + .9*1 - .6 = 1.3;  A_1 = 1 + .9*.6 - .4 + .72*1.3 = 2.076;  A_0 = 1 + .9*5 - .2 = 5.3
EXPECTED_ADVANTAGES = np.array([[2.12, 5.3], [1.0, 2.076], [3.3, 1.3]], np.float32)


def test_gae_with_termination_and_truncation():
    rewards, values, terminated, truncated, final_values, last_values = two_env_rollout()
    advantages, returns = gae(rewards, values, terminated, truncated, final_values, last_values, GAMMA, LAMBDA)
    np.testing.assert_allclose(advantages, EXPECTED_ADVANTAGES, rtol=1e-6)
    np.testing.assert_allclose(returns, EXPECTED_ADVANTAGES + values, rtol=1e-6)


def test_gae_lambda_one_is_monte_carlo_minus_value():
    rewards = np.array([[1.0], [1.0], [1.0]], np.float32)
    values = np.array([[0.3], [0.2], [0.1]], np.float32)
    zeros = np.zeros_like(rewards)
    terminated = np.array([[0], [0], [1]], np.float32)
    advantages, returns = gae(rewards, values, terminated, zeros, zeros, np.array([9.0], np.float32), 0.5, 1.0)
    np.testing.assert_allclose(returns[:, 0], [1 + 0.5 + 0.25, 1 + 0.5, 1.0], rtol=1e-6)


def test_discounted_returns_restart_after_done():
    rewards = np.array([[1, 2], [1, 2], [1, 2]], np.float32)
    dones = np.array([[0, 1], [0, 0], [1, 0]], np.float32)
    returns = discounted_returns(rewards, dones, 0.5)
    np.testing.assert_allclose(returns[:, 0], [1.75, 1.5, 1.0])
    np.testing.assert_allclose(returns[:, 1], [2.0, 3.0, 2.0])


def test_buffer_finish_and_minibatches_cover_the_rollout_once():
    rewards, values, terminated, truncated, final_values, last_values = two_env_rollout()
    buffer = RolloutBuffer(3, 2, (4,), np.float32, (), np.int64, torch.device("cpu"))
    for t in range(3):
        obs = np.full((2, 4), t, np.float32)
        buffer.add(obs, np.array([t, t]), np.zeros(2), values[t], rewards[t], terminated[t], truncated[t])
        if truncated[t].any():
            ids = np.flatnonzero(truncated[t])
            buffer.set_final_values(ids, final_values[t, ids])
    assert buffer.full
    buffer.finish(last_values, GAMMA, LAMBDA)
    data = buffer.all()
    np.testing.assert_allclose(data.advantages.numpy(), EXPECTED_ADVANTAGES.reshape(-1), rtol=1e-6)
    batches = list(buffer.minibatches(2, np.random.default_rng(0)))
    assert [len(b.returns) for b in batches] == [2, 2, 2]
    seen = torch.cat([b.advantages for b in batches]).sort().values
    torch.testing.assert_close(seen, data.advantages.sort().values)
    assert len(list(buffer.minibatches(64, np.random.default_rng(0)))) == 1


@pytest.mark.parametrize("n_envs", [1, 3])
def test_buffer_reuses_storage_across_rollouts(n_envs):
    buffer = RolloutBuffer(2, n_envs, (1,), np.float32, (), np.int64, torch.device("cpu"))
    for _ in range(2):
        for _step in range(2):
            z = np.zeros(n_envs, np.float32)
            buffer.add(np.zeros((n_envs, 1)), np.zeros(n_envs), z, z, z + 1, z, z)
        buffer.finish(np.zeros(n_envs, np.float32), 1.0, 1.0)
        np.testing.assert_allclose(buffer.all().returns.numpy(), np.tile([2.0, 1.0], (n_envs, 1)).T.reshape(-1))


def test_reward_scaler_divides_by_the_std_of_running_returns():
    """gamma 0.5, rewards 2, 2, 2, the episode ending after the second: running returns 2, 3
    (then restart), 2. Each reward is divided by the std of the returns so far:
    {2}: std ~0 -> clipped to 10;  {2, 3}: std 0.5 -> 4;  {2, 3, 2}: var 2/9 -> 2 / sqrt(2/9) = 4.2426."""
    scaler = RewardScaler(n_envs=1, gamma=0.5)
    scaled = [
        scaler(np.array([2.0]), np.array([False]))[0],
        scaler(np.array([2.0]), np.array([True]))[0],
        scaler(np.array([2.0]), np.array([False]))[0],
    ]
    np.testing.assert_allclose(scaled, [10.0, 4.0, 2.0 / math.sqrt(2 / 9)], rtol=1e-3)
    np.testing.assert_allclose(scaler.returns, [2.0])
    scaler.reset()
    np.testing.assert_allclose(scaler.returns, [0.0])
    assert float(scaler.rms.count) == pytest.approx(3, abs=1e-3)


def test_reward_scaler_and_running_statistics_equal_sb3_vecnormalize():
    """On one stream of rewards and episode ends, the scaled rewards and the return statistics are
    SB3 VecNormalize's (norm_reward), to float32 precision."""
    from stable_baselines3.common.running_mean_std import RunningMeanStd as SB3RunningMeanStd

    rng = np.random.default_rng(0)
    gamma, n_envs = 0.99, 3
    ours = RewardScaler(n_envs, gamma)
    sb3_rms, sb3_returns = SB3RunningMeanStd(shape=()), np.zeros(n_envs)
    for _ in range(300):
        rewards = rng.normal(1.0, 5.0, n_envs).astype(np.float32)
        dones = rng.random(n_envs) < 0.05
        # VecNormalize.step_wait with norm_reward: update the return statistics, scale, then restart
        sb3_returns = sb3_returns * gamma + rewards
        sb3_rms.update(sb3_returns)
        expected = np.clip(rewards / np.sqrt(sb3_rms.var + 1e-8), -10.0, 10.0)
        sb3_returns[dones] = 0
        np.testing.assert_allclose(ours(rewards, dones), expected, rtol=1e-5, atol=1e-6)
    assert float(ours.rms.mean) == pytest.approx(sb3_rms.mean) and float(ours.rms.var) == pytest.approx(sb3_rms.var)
