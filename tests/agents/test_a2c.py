"""A2C: the loss against hand-computed values, rollout collection with truncation bootstrapping,
learning on a bandit with a known optimum, save/load, determinism, smoke runs, and a slow
CartPole "does it learn" test."""

from __future__ import annotations

import io
import math

import gymnasium as gym
import numpy as np
import pytest
import torch

from agents.a2c import A2C, A2CConfig, a2c_loss
from agents.networks import ActorCritic, PolicyOutput
from agents.presets import build_config, preset
from agents.rollout import collect_rollout
from tests.agents.sb3_twin import assert_same_weights, copy_weights, fill_buffer, sb3_after_one_rollout
from tests.agents.toy_envs import BANDIT, COUNTER


class ValueIsTenTimesObs(torch.nn.Module):
    """A stand-in policy with known values: always action 0, V(s) = 10 * s."""

    def act(self, obs: torch.Tensor, deterministic: bool = False) -> PolicyOutput:
        n = obs.shape[0]
        return PolicyOutput(torch.zeros(n, dtype=torch.long), torch.zeros(n), self.value(obs))

    def value(self, obs: torch.Tensor) -> torch.Tensor:
        return 10.0 * obs[:, 0]

    def numpy_acting(self, obs) -> bool:  # acts through the torch path above
        return False


# ----------------------------------------------------------------------------- the loss


def test_a2c_loss_matches_hand_computation():
    log_prob = torch.tensor([-0.5, -1.0], requires_grad=True)
    entropy = torch.tensor([0.6, 0.8])
    values = torch.tensor([1.0, 2.0], requires_grad=True)
    advantages = torch.tensor([2.0, 1.0], requires_grad=True)
    returns = torch.tensor([3.0, 0.0])
    loss = a2c_loss(log_prob, entropy, values, advantages, returns, ent_coef=0.01, vf_coef=0.5)
    # policy: -mean(2 * -0.5, 1 * -1.0) = 1; value: mean(2^2, 2^2) = 4; entropy: -mean(0.6, 0.8)
    assert loss.policy.item() == pytest.approx(1.0)
    assert loss.value.item() == pytest.approx(4.0)
    assert loss.entropy.item() == pytest.approx(-0.7)
    assert loss.total.item() == pytest.approx(1.0 + 0.01 * -0.7 + 0.5 * 4.0)
    loss.total.backward()
    assert advantages.grad is None  # advantages are weights, not a path for gradients
    assert log_prob.grad.tolist() == pytest.approx([-1.0, -0.5])  # -A / B
    assert values.grad.tolist() == pytest.approx([0.5 * -2.0, 0.5 * 2.0])  # vf_coef * 2 (V - R) / B


# ----------------------------------------------------------------------------- collect_rollout


def collect_counter(env_kwargs: dict, n_steps: int = 4, gamma: float = 0.5):
    """Run collect_rollout with the known-value policy on two Counter envs; (buffer, last_values)."""
    agent = A2C(COUNTER, A2CConfig(n_envs=2, n_steps=n_steps), env_kwargs=env_kwargs)
    agent.open_envs()
    buffer = agent.buffer
    last_values = collect_rollout(agent, ValueIsTenTimesObs(), buffer)
    agent.close()
    buffer.finish(last_values, gamma, gae_lambda=1.0)
    return buffer, last_values


def test_collect_rollout_bootstraps_a_truncation_from_the_final_observation():
    buffer, last_values = collect_counter({})  # truncated by the time limit after 3 steps
    # obs 0 -> 1 -> 2 -> 3 (truncated; the reset obs 0 replaces 3) -> 1
    assert buffer.obs[:, :, 0].tolist() == [[0, 0], [1, 1], [2, 2], [0, 0]]
    assert buffer.truncated[:, 0].tolist() == [0, 0, 1, 0]
    assert buffer.final_values[2].tolist() == [30.0, 30.0]  # V(true final obs 3), not V(reset obs 0)
    assert last_values.tolist() == [10.0, 10.0]
    # gamma 0.5, lambda 1: G3 = 1 + .5 * 10 = 6; G2 = 1 + .5 * 30 = 16; G1 = 1 + .5 * 16; G0 = 1 + .5 * 9
    returns = buffer.all().returns.reshape(4, 2)[:, 0]
    assert returns.tolist() == pytest.approx([5.5, 9.0, 16.0, 6.0])


def test_collect_rollout_does_not_bootstrap_a_termination():
    buffer, _ = collect_counter({"terminate_at": 2, "max_episode_steps": 10})
    assert buffer.terminated[:, 0].tolist() == [0, 1, 0, 1]
    assert buffer.final_values.sum() == 0.0
    returns = buffer.all().returns.reshape(4, 2)[:, 0]
    assert returns.tolist() == pytest.approx([1.5, 1.0, 1.5, 1.0])


# ----------------------------------------------------------------------------- learning


def test_a2c_learns_a_contextual_bandit():
    config = A2CConfig(total_steps=3000, n_envs=8, n_steps=5, learning_rate=0.01, hidden=[16])
    agent = A2C(BANDIT, config, seed=0).learn()
    agent.close()
    contexts = torch.tensor([0, 1])
    assert agent.predict(contexts.numpy()).tolist() == [0, 1]
    with torch.no_grad():
        probs = torch.softmax(agent.policy(contexts)[0], -1)
    assert probs[0, 0] > 0.9 and probs[1, 1] > 0.9
    assert agent.evaluate(10, seed=0)["mean_reward"] == 1.0


# ----------------------------------------------------------------------------- save/load, determinism


@pytest.mark.parametrize("normalize", [False, True])  # True: the checkpoint carries the statistics
@pytest.mark.parametrize("env_id", ["CartPole-v1", "Pendulum-v1"])
def test_save_load_gives_identical_actions(env_id, normalize):
    flags = dict(normalize_obs=normalize, normalize_reward=normalize)
    if normalize and env_id == "Pendulum-v1":
        flags["use_sde"] = True  # gSDE's log_std matrix travels in the checkpoint too
    agent = A2C(env_id, A2CConfig(total_steps=400, n_envs=4, **flags), seed=3).learn()
    agent.close()
    buffer = io.BytesIO()
    torch.save(agent.state_dict(), buffer)
    buffer.seek(0)
    fresh = A2C(env_id, A2CConfig(n_envs=4, **flags), seed=99)
    fresh.load_state_dict(torch.load(buffer, weights_only=True))
    obs = np.stack([agent.observation_space.sample() for _ in range(16)])
    assert np.array_equal(agent.predict(obs), fresh.predict(obs))
    sampled = []
    for learner in (agent, fresh):
        torch.manual_seed(0)
        learner.policy.reset_noise(len(obs))  # gSDE draws its noise here (a no-op for other heads)
        sampled.append(learner.predict(obs, deterministic=False))
    assert np.array_equal(*sampled)
    assert fresh.num_timesteps == agent.num_timesteps


def test_same_seed_gives_identical_episode_returns():
    def returns(seed: int) -> list[float]:
        agent = A2C("CartPole-v1", A2CConfig(total_steps=2000, n_envs=4), seed=seed).learn()
        agent.close()
        return [r for _, r, _ in agent.episodes.drain()]

    first = returns(7)
    assert len(first) > 20
    assert returns(7) == first
    assert returns(8) != first


# ----------------------------------------------------------------------------- smoke runs


@pytest.mark.parametrize("env_id", ["CartPole-v1", "Pendulum-v1"])
def test_smoke_run_reports_sb3_metrics(env_id):
    seen: list[dict[str, float]] = []
    agent = A2C(env_id, A2CConfig(total_steps=400, n_envs=4), seed=0)
    agent.learn(callback=lambda a, m: seen.append(m))
    agent.close()
    assert agent.num_timesteps == 400 and len(seen) == 400 // 20
    keys = {"train/loss", "train/policy_loss", "train/value_loss", "train/entropy_loss",
            "train/explained_variance", "train/learning_rate", "train/n_updates"}  # fmt: skip
    if env_id == "Pendulum-v1":
        keys.add("train/std")
    assert keys <= set(seen[-1])
    assert all(math.isfinite(seen[-1][k]) for k in keys - {"train/explained_variance"})
    assert seen[-1]["train/n_updates"] == 20


@pytest.mark.parametrize("freq, draws", [(-1, 2), (3, 4)])  # 2 rollouts of 5 steps: at 0 (and 3) of each
def test_gsde_draws_exploration_noise_per_rollout_or_every_sde_sample_freq_steps(freq, draws):
    agent = A2C("Pendulum-v1", A2CConfig(total_steps=40, n_envs=4, use_sde=True, sde_sample_freq=freq), seed=0)
    sizes = []
    reset_noise = agent.policy.reset_noise
    agent.policy.reset_noise = lambda n: sizes.append(n) or reset_noise(n)
    metrics = {}
    agent.learn(callback=lambda a, m: metrics.update(m))
    agent.close()
    assert sizes == [4] * draws
    assert agent.policy.head.exploration.shape == (4, 64, 1)
    assert math.isfinite(metrics["train/loss"]) and metrics["train/std"] > 0


def test_config_check_names_the_fix():
    with pytest.raises(ValueError, match="sde_sample_freq must be -1"):
        A2CConfig(sde_sample_freq=0).check()
    with pytest.raises(ValueError, match="n_steps"):
        A2CConfig(n_steps=0).check()
    with pytest.raises(ValueError, match="gae_lambda"):
        A2CConfig(gae_lambda=1.5).check()
    with pytest.raises(ValueError, match="vf_coef"):
        A2CConfig(vf_coef=-1.0).check()


def test_presets_build():
    for env_id in ("CartPole-v1", "LunarLander-v3", "Acrobot-v1", "Pendulum-v1"):
        config = build_config(A2CConfig, preset("a2c", env_id))
        assert config.total_steps >= 200_000


# ----------------------------------------------------------------------------- does it learn


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1])
def test_a2c_solves_cartpole(seed):
    config = build_config(A2CConfig, preset("a2c", "CartPole-v1"))  # rl-zoo: 8 envs, 5e5 steps
    agent = A2C("CartPole-v1", config, seed=seed).learn()
    agent.close()
    assert agent.evaluate(10, deterministic=True, seed=1000)["mean_reward"] >= 475


@pytest.mark.parametrize("fast", [False, True])
@pytest.mark.parametrize("action_space", [gym.spaces.Discrete(3), gym.spaces.Box(-1.0, 1.0, (2,))])
def test_update_gradient_equals_loss_backward(action_space, fast):
    """forward_train + backward (fast: the hand-written network backward from autograd's d loss /
    d outputs) give every weight the gradient of a2c_loss(...).total.backward() on the readable network."""
    torch.manual_seed(0)
    obs_space = gym.spaces.Box(-1.0, 1.0, (4,))
    policy = ActorCritic(obs_space, action_space, [16, 16], log_std_init=-0.3, fast=fast)
    obs = torch.randn(10, 4)
    actions = torch.stack([torch.as_tensor(action_space.sample()) for _ in range(10)])
    advantages, returns = torch.randn(10), torch.randn(10)
    x = policy.features_in(obs)  # the readable network, layer by layer, whatever the switch
    features = policy.pi_body(x)
    params, values = policy.head(features), policy.vf_head(policy.vf_body(x)).squeeze(-1)
    log_prob, entropy = policy.head.log_prob_entropy(params, actions)
    a2c_loss(log_prob, entropy, values, advantages, returns, ent_coef=0.05, vf_coef=0.5).total.backward()
    expected = [p.grad.clone() for p in policy.parameters()]
    policy.zero_grad(set_to_none=True)
    params, values, saved = policy.forward_train(obs)
    assert (saved is not None) == fast
    log_prob, entropy = policy.head.log_prob_entropy(params, actions)
    loss = a2c_loss(log_prob, entropy, values, advantages, returns, ent_coef=0.05, vf_coef=0.5)
    policy.backward(loss.total, params, values, saved)
    for p, grad in zip(policy.parameters(), expected):
        torch.testing.assert_close(p.grad, grad)


@pytest.mark.parametrize("optimizer", ["rmsprop", "adam"])
def test_update_equals_sb3_a2c_on_the_same_rollout(optimizer):
    """From the same weights and the same rollout (SB3 collects it), gymlab's GAE gives SB3's
    returns and one update lands on SB3's weights, up to float rounding."""
    from stable_baselines3 import A2C as SB3A2C

    n_envs, n_steps, total = 8, 5, 100_000
    sb3 = sb3_after_one_rollout(
        SB3A2C, n_envs, n_steps, total, gamma=0.99, gae_lambda=0.9, ent_coef=0.01, normalize_advantage=True,
        learning_rate=lambda p: 7e-4 * p, use_rms_prop=optimizer == "rmsprop", rms_prop_eps=1e-5,
        policy_kwargs={"optimizer_kwargs": {"eps": 1e-5}} if optimizer == "adam" else {},
    )  # fmt: skip
    config = A2CConfig(total_steps=total, n_envs=n_envs, n_steps=n_steps, gamma=0.99, gae_lambda=0.9, ent_coef=0.01,
                       normalize_advantage=True, learning_rate=7e-4, lr_schedule="linear", optimizer=optimizer)  # fmt: skip
    agent = A2C("CartPole-v1", config, seed=0)
    copy_weights(sb3, agent)
    fill_buffer(sb3, agent)
    metrics = agent.update()
    sb3.train()
    assert metrics["train/learning_rate"] == pytest.approx(sb3.policy.optimizer.param_groups[0]["lr"])
    assert_same_weights(sb3, agent)


@pytest.mark.slow
def test_a2c_learns_pendulum_with_gsde():
    """The zoo's Pendulum-v1 settings (gSDE, normalisation, 1e6 steps): far above the -1,200 of a
    random policy; without gSDE the same run ends near -750."""
    config = build_config(A2CConfig, preset("a2c", "Pendulum-v1"))
    agent = A2C("Pendulum-v1", config, seed=0).learn()
    agent.close()
    assert agent.evaluate(20, deterministic=True, seed=1000)["mean_reward"] >= -400
