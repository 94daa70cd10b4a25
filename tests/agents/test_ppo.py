"""PPO: known-answer losses and their gradients, save/load, determinism, learning."""

import math

import gymnasium as gym
import numpy as np
import pytest
import torch

from agents.ppo import (
    PPO,
    PPOConfig,
    explained_variance,
    ppo_loss,
    ppo_policy_loss,
    value_loss,
)
from agents.presets import build_config, preset
from tests.agents.sb3_twin import assert_same_weights, copy_weights, fill_buffer, sb3_after_one_rollout


class GuessSign(gym.Env):
    """One-step contextual bandit: observe x in {-1, +1}, reward 1 for action (x > 0), else 0."""

    observation_space = gym.spaces.Box(-1.0, 1.0, (1,), np.float32)
    action_space = gym.spaces.Discrete(2)

    def __init__(self, render_mode=None):
        self.render_mode = render_mode

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.x = float(self.np_random.choice([-1.0, 1.0]))
        return np.array([self.x], np.float32), {}

    def step(self, action):
        reward = float(int(action) == int(self.x > 0))
        return np.array([self.x], np.float32), reward, True, False, {}


if "GuessSign-v0" not in gym.envs.registry:
    gym.register("GuessSign-v0", entry_point=GuessSign)


def small_config(**kwargs) -> PPOConfig:
    defaults = dict(total_steps=512, n_envs=4, n_steps=32, batch_size=64, n_epochs=2, hidden=[16, 16])
    return PPOConfig(**{**defaults, **kwargs})


# ----------------------------------------------------------------------------- losses


def test_ppo_policy_loss_known_answer():
    ratio = torch.tensor([1.0, 1.5, 0.5])
    old = torch.zeros(3)
    advantages = torch.tensor([1.0, 1.0, -1.0])
    loss, clip_fraction, approx_kl = ppo_policy_loss(ratio.log(), old, advantages, 0.2)
    # min(A r, A clip(r)) = [1, 1.2, -0.8]
    assert float(loss) == pytest.approx(-(1.0 + 1.2 - 0.8) / 3)
    assert float(clip_fraction) == pytest.approx(2 / 3)
    expected_kl = (0.0 + (0.5 - math.log(1.5)) + (-0.5 - math.log(0.5))) / 3
    assert float(approx_kl) == pytest.approx(expected_kl, rel=1e-5)


def test_value_loss_known_answer():
    values, returns = torch.tensor([1.0, 2.0]), torch.tensor([2.0, 0.0])
    assert float(value_loss(values, values, returns)) == pytest.approx(2.5)
    # clipped to within 0.5 of the old values [0, 2]: [0.5, 2.0]
    assert float(value_loss(values, torch.tensor([0.0, 2.0]), returns, 0.5)) == pytest.approx((1.5**2 + 4) / 2)


def test_explained_variance():
    target = torch.tensor([1.0, 2.0, 3.0, 4.0])
    assert explained_variance(target, target) == pytest.approx(1.0)
    assert explained_variance(torch.full((4,), 2.5), target) == pytest.approx(0.0)
    assert math.isnan(explained_variance(target, torch.ones(4)))


def test_ppo_loss_is_the_sum_of_its_terms_with_hand_computed_gradients():
    """ppo_loss = clipped surrogate - ent_coef * mean entropy + vf_coef * value loss, and autograd
    through it gives the textbook gradients: -A r / B where the unclipped term is the minimum (else
    0), -ent_coef / B per entropy, 2 vf_coef (V - R) / B per value."""
    log_prob = torch.tensor([0.0, math.log(1.5), math.log(0.5)], requires_grad=True)  # ratios 1, 1.5, 0.5
    old = torch.zeros(3)
    advantages = torch.tensor([1.0, 1.0, 1.0])
    entropy = torch.tensor([0.5, 0.7, 0.9], requires_grad=True)
    values = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
    returns = torch.tensor([0.0, 2.0, 5.0])
    loss = ppo_loss(log_prob, old, advantages, entropy, values, values.detach(), returns, 0.2, 0.1, 0.5)
    # surrogate min(r, clip(r)) with A = 1: 1, 1.2, 0.5 -> policy loss -(2.7)/3
    assert loss.policy.item() == pytest.approx(-0.9)
    assert loss.value.item() == pytest.approx((1 + 0 + 4) / 3)
    assert loss.entropy.item() == pytest.approx(0.7)
    assert loss.total.item() == pytest.approx(-0.9 - 0.1 * 0.7 + 0.5 * 5 / 3)
    loss.total.backward()
    assert log_prob.grad.tolist() == pytest.approx([-1 / 3, 0.0, -0.5 / 3])  # clipped ratio 1.5: no gradient
    assert entropy.grad.tolist() == pytest.approx([-0.1 / 3] * 3)
    assert values.grad.tolist() == pytest.approx([2 * 0.5 * 1 / 3, 0.0, 2 * 0.5 * -2 / 3])


def test_config_checks_name_the_fix():
    with pytest.raises(ValueError, match="try batch_size=50"):
        PPOConfig(n_steps=100, n_envs=1, batch_size=64).check()


# ----------------------------------------------------------------------------- the learner


def test_save_load_gives_identical_actions(tmp_path):
    agent = PPO("CartPole-v1", small_config(), seed=0, device="cpu")
    agent.learn(256)
    path = tmp_path / "ckpt.pt"
    torch.save(agent.state_dict(), path)
    clone = PPO("CartPole-v1", small_config(), seed=1, device="cpu")
    clone.load_state_dict(torch.load(path, weights_only=True))
    obs = np.random.default_rng(0).normal(size=(32, 4)).astype(np.float32)
    np.testing.assert_array_equal(agent.predict(obs), clone.predict(obs))
    with torch.no_grad():
        torch.testing.assert_close(agent.policy(torch.as_tensor(obs)), clone.policy(torch.as_tensor(obs)))
    clone.learn(512)  # the restored optimizer keeps training (flat parameters still shared)
    assert clone.num_timesteps == 512


def test_same_seed_identical_training():
    runs = []
    for _ in range(2):
        agent = PPO("CartPole-v1", small_config(), seed=3, device="cpu")
        agent.learn()
        runs.append(
            (list(agent.episodes.returns), torch.cat([p.detach().reshape(-1) for p in agent.policy.parameters()]))
        )
    assert runs[0][0] == runs[1][0] and len(runs[0][0]) > 0
    assert torch.equal(runs[0][1], runs[1][1])


def test_learns_a_tiny_bandit():
    config = small_config(total_steps=4096, n_envs=8, n_steps=16, batch_size=64, n_epochs=4, learning_rate=3e-3)
    agent = PPO("GuessSign-v0", config, seed=0, device="cpu")
    agent.learn()
    assert agent.evaluate(episodes=50, seed=0)["mean_reward"] >= 0.95
    assert agent.episodes.mean_return() >= 0.8


def test_box_actions_smoke_on_pendulum():
    agent = PPO("Pendulum-v1", small_config(ent_coef=0.01, clip_range_vf=0.2, log_std_init=-0.5), seed=0, device="cpu")
    metrics = {}
    agent.learn(callback=lambda a, m: metrics.update(m))
    assert agent.num_timesteps == 512
    assert all(math.isfinite(metrics[k]) for k in ("train/loss", "train/value_loss", "train/std", "train/approx_kl"))
    actions = agent.predict(np.zeros((3, 3), np.float32))
    assert actions.shape == (3, 1) and np.all(np.abs(actions) <= 2.0)


def test_autograd_path_for_other_activations_trains():
    """gelu has no fused network: the update runs through autograd, outside inference mode."""
    agent = PPO("CartPole-v1", small_config(activation="gelu"), seed=0, device="cpu")
    assert not agent.policy.fused
    metrics = {}
    agent.learn(callback=lambda a, m: metrics.update(m))
    assert all(math.isfinite(metrics[k]) for k in ("train/loss", "train/value_loss", "train/approx_kl"))


def test_target_kl_stops_epochs_early_and_metrics_are_reported():
    config = small_config(target_kl=1e-6, n_epochs=10)
    agent = PPO("CartPole-v1", config, seed=0, device="cpu")
    agent.open_envs()
    metrics = agent.train_iteration()
    assert 1 <= metrics["train/n_updates"] < 10 * (32 * 4 // 64)
    assert set(metrics) >= {"train/loss", "train/clip_range", "train/learning_rate", "train/explained_variance"}
    assert metrics["train/loss"] == pytest.approx(
        metrics["train/policy_gradient_loss"] + config.vf_coef * metrics["train/value_loss"]
    )


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1])
def test_solves_cartpole(seed):
    config = build_config(PPOConfig, preset("ppo", "CartPole-v1"))
    agent = PPO("CartPole-v1", config, seed=seed, device="cpu")
    agent.learn()
    assert agent.evaluate(episodes=20, seed=100 + seed)["mean_reward"] >= 475


@pytest.mark.parametrize("batch_size", [256, 64])  # one minibatch (the zoo's CartPole), four
def test_update_equals_sb3_ppo_on_the_same_rollout(batch_size):
    """From the same weights and the same rollout (SB3 collects it), gymlab's GAE gives SB3's
    returns, and one update -- every epoch, the lr and clip schedules, clipping, Adam -- lands on
    SB3's weights, up to float rounding."""
    from stable_baselines3 import PPO as SB3PPO

    n_envs, n_steps, total = 8, 32, 100_000
    sb3 = sb3_after_one_rollout(
        SB3PPO, n_envs, n_steps, total, batch_size=batch_size, n_epochs=5, gamma=0.98, gae_lambda=0.8,
        ent_coef=0.01, learning_rate=lambda p: 1e-3 * p, clip_range=lambda p: 0.2 * p,
        policy_kwargs={"optimizer_kwargs": {"eps": 1e-5}},
    )  # fmt: skip
    config = PPOConfig(total_steps=total, n_envs=n_envs, n_steps=n_steps, batch_size=batch_size, n_epochs=5,
                       gamma=0.98, gae_lambda=0.8, ent_coef=0.01, learning_rate=1e-3, lr_schedule="linear",
                       clip_range=0.2, clip_schedule="linear")  # fmt: skip
    agent = PPO("CartPole-v1", config, seed=0)
    copy_weights(sb3, agent)
    fill_buffer(sb3, agent)

    # SB3 shuffles its env-major rows with np.random, once per epoch; gymlab gets the same minibatches
    # (its rows are time-major) from a stand-in for its generator
    np.random.seed(1)
    orders = [np.random.permutation(n_envs * n_steps) for _ in range(5)]
    np.random.seed(1)

    class SameOrders:
        def permutation(self, size):
            order = orders.pop(0)
            return (order % n_steps) * n_envs + order // n_steps  # env-major row -> time-major row

    agent.rng = SameOrders()
    metrics = agent.update()
    sb3.train()
    assert not orders or batch_size == n_envs * n_steps  # one minibatch: gymlab does not shuffle
    assert metrics["train/clip_range"] == pytest.approx(sb3.clip_range(sb3._current_progress_remaining))
    assert metrics["train/learning_rate"] == pytest.approx(sb3.policy.optimizer.param_groups[0]["lr"])
    assert metrics["train/n_updates"] == 5 * (n_envs * n_steps // batch_size)
    assert_same_weights(sb3, agent)


def test_normalization_statistics_follow_each_rollout_and_are_saved(tmp_path):
    """normalize_obs / normalize_reward (VecNormalize's): the observation statistics take in each
    rollout after its update, so acting and learning saw the same ones; the buffer holds scaled
    rewards while episode returns stay raw; a checkpoint restores both statistics."""
    agent = PPO("CartPole-v1", small_config(normalize_obs=True, normalize_reward=True), seed=0, device="cpu")
    agent.open_envs()
    counts_seen_by_update = []
    update = agent.update
    agent.update = lambda: counts_seen_by_update.append(float(agent.policy.obs_rms.count)) or update()
    agent.train_iteration()
    assert counts_seen_by_update == [pytest.approx(1e-4)]  # the statistics the rollout was collected with
    rollout = agent.buffer.obs.reshape(-1, 4)
    np.testing.assert_allclose(agent.policy.obs_rms.mean.numpy(), rollout.mean(0), rtol=1e-3, atol=1e-6)
    np.testing.assert_allclose(agent.policy.obs_rms.var.numpy(), rollout.var(0), rtol=1e-3, atol=1e-6)
    assert float(agent.reward_scaler.rms.count) == pytest.approx(32 * 4, abs=1e-3)
    assert not np.allclose(agent.buffer.rewards, 1.0)  # CartPole pays 1 per step
    agent.learn(1024)
    assert agent.episodes.returns and all(float(r).is_integer() for r in agent.episodes.returns)
    path = tmp_path / "ckpt.pt"
    torch.save(agent.state_dict(), path)
    clone = PPO("CartPole-v1", small_config(normalize_obs=True, normalize_reward=True), seed=1, device="cpu")
    clone.load_state_dict(torch.load(path, weights_only=True))
    for name in ("mean", "var", "count"):
        assert torch.equal(getattr(clone.policy.obs_rms, name), getattr(agent.policy.obs_rms, name))
        assert torch.equal(getattr(clone.reward_scaler.rms, name), getattr(agent.reward_scaler.rms, name))
    obs = np.random.default_rng(0).normal(size=(32, 4)).astype(np.float32)
    np.testing.assert_array_equal(agent.predict(obs), clone.predict(obs))
