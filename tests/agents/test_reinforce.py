"""REINFORCE: returns and loss against hand-computed values, whole-episode collection (carry-over,
truncation bootstrapping), learning on a bandit with a known optimum, save/load, determinism,
smoke runs, and a slow CartPole "does it learn" test."""

from __future__ import annotations

import io
import math
import platform

import numpy as np
import pytest
import torch

import agents.base
import agents.reinforce
from agents.presets import build_config, preset
from agents.reinforce import Reinforce, ReinforceConfig, reinforce_loss, reinforce_weights
from agents.rollout import discounted_returns
from tests.agents.toy_envs import BANDIT, COUNTER

# ----------------------------------------------------------------------------- returns and loss


def test_discounted_returns_with_and_without_bootstrap():
    rewards = np.array([[1.0, 0.0], [1.0, 1.0], [1.0, 2.0]])  # (T=3, N=2)
    dones = np.array([[0.0, 0.0], [0.0, 1.0], [0.0, 0.0]])
    # column 0, gamma .5: G2 = 1, G1 = 1 + .5, G0 = 1 + .75; column 1 restarts after its done at t=1
    assert discounted_returns(rewards, dones, 0.5).tolist() == [[1.75, 0.5], [1.5, 1.0], [1.0, 2.0]]
    # G3 = bootstrap: column 0 G2 = 1 + .5 * 8 = 5, G1 = 3.5, G0 = 2.75; column 1 G2 = 2 + .5 * 4 = 4
    bootstrapped = discounted_returns(rewards, dones, 0.5, bootstrap=np.array([8.0, 4.0]))
    assert bootstrapped.tolist() == [[2.75, 0.5], [3.5, 1.0], [5.0, 4.0]]


def test_reinforce_loss_without_baseline():
    log_prob = torch.tensor([-1.0, -2.0], requires_grad=True)
    returns = torch.tensor([3.0, 1.0])
    policy_loss, value_loss = reinforce_loss(log_prob, returns, None, normalize=False)
    assert policy_loss.item() == pytest.approx(2.5)  # -mean(3 * -1, 1 * -2)
    assert value_loss.item() == 0.0
    # normalised weights: mean 2, sample std sqrt(2) -> +-1/sqrt(2); -mean(-1/sqrt2, 2/sqrt2)
    policy_loss, _ = reinforce_loss(log_prob, returns, None, normalize=True)
    assert policy_loss.item() == pytest.approx(-0.5 / math.sqrt(2))
    policy_loss.backward()
    assert log_prob.grad.tolist() == pytest.approx([-0.5 / math.sqrt(2), 0.5 / math.sqrt(2)])


def test_reinforce_loss_with_baseline():
    log_prob = torch.tensor([-1.0, -2.0], requires_grad=True)
    returns = torch.tensor([3.0, 1.0])
    values = torch.tensor([1.0, 0.0], requires_grad=True)
    policy_loss, value_loss = reinforce_loss(log_prob, returns, values, normalize=False)
    assert policy_loss.item() == pytest.approx(2.0)  # weights G - V = (2, 1): -mean(-2, -2)
    assert value_loss.item() == pytest.approx(2.5)  # mean(2^2, 1^2)
    (policy_loss + value_loss).backward()
    assert values.grad.tolist() == pytest.approx([-2.0, -1.0])  # only the value loss: 2 (V - G) / B
    assert log_prob.grad.tolist() == pytest.approx([-1.0, -0.5])


@pytest.mark.parametrize("baseline", [True, False])
@pytest.mark.parametrize("activation", ["tanh", "gelu"])  # the hand-written backward; autograd
@pytest.mark.parametrize("env_id", ["CartPole-v1", "Pendulum-v1"])
def test_update_gradient_equals_loss_backward(env_id, activation, baseline, monkeypatch):
    """The learner's gradient, accumulated pass by pass, is that of reinforce_loss over the batch."""
    monkeypatch.setattr(agents.reinforce, "UPDATE_ROWS", 7)  # 23 rows: passes of 7, 7, 7, 2
    config = ReinforceConfig(activation=activation, baseline=baseline, ent_coef=0.05, vf_coef=0.7, hidden=[16, 16])
    agent = Reinforce(env_id, config, seed=0)
    torch.manual_seed(0)
    obs = torch.as_tensor(np.stack([agent.observation_space.sample() for _ in range(23)]))
    actions = torch.as_tensor(np.stack([agent.action_space.sample() for _ in range(23)]))
    returns = torch.randn(23) * 5
    policy = agent.policy
    log_prob, entropy, values = policy.evaluate(obs, actions)
    policy_loss, value_loss = reinforce_loss(log_prob, returns, values, normalize=True)
    loss = policy_loss - 0.05 * entropy.mean() + 0.7 * value_loss
    expected = torch.cat(
        [g.reshape(-1) for g in torch.autograd.grad(loss, policy.flat_parameters(), retain_graph=True)]
    )
    weights = reinforce_weights(returns, None if values is None else values.detach())

    sums = agent._accumulate_gradient(obs, actions, returns, weights)
    torch.testing.assert_close(agent.params[0].grad, expected)
    assert -sums[0].item() / 23 == pytest.approx(policy_loss.item(), abs=1e-5)
    assert sums[1].item() / 23 == pytest.approx(value_loss.item(), rel=1e-5)
    assert sums[2].item() / 23 == pytest.approx(entropy.mean().item(), rel=1e-5)

    if baseline:  # a value-only step: the gradient of vf_coef * value_loss, zero for the actor
        agent.params[0].grad.zero_()
        agent._accumulate_gradient(obs, actions, returns, None)
        expected = torch.autograd.grad(0.7 * value_loss, policy.flat_parameters(), allow_unused=True)
        expected = torch.cat([(torch.zeros_like(p) if g is None else g).reshape(-1)
                              for p, g in zip(policy.flat_parameters(), expected)])  # fmt: skip
        torch.testing.assert_close(agent.params[0].grad, expected)


@pytest.mark.parametrize("activation", ["tanh", "gelu"])  # the hand-written backward; autograd
def test_value_only_steps_leave_the_actor_where_it_is(activation):
    """value_steps - 1 extra steps move the critic and nothing else: after one update the actor's
    weights are those of the same run with value_steps=1, bit for bit."""

    def first_update(value_steps: int) -> Reinforce:
        config = ReinforceConfig(activation=activation, value_steps=value_steps, episodes_per_update=2)
        agent = Reinforce("CartPole-v1", config, seed=0)
        with agent.own_process_state():  # the learner's random streams, as learn() uses them
            agent.open_envs()
            agent.train_iteration()
        agent.close()
        return agent

    one, many = first_update(1), first_update(5)

    def parts(agent: Reinforce) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        policy = agent.policy
        actor, critic = list(policy.pi_body.parameters()), list(policy.vf_body.parameters())
        return actor + list(policy.head.parameters()), critic + list(policy.vf_head.parameters())

    (actor_one, critic_one), (actor_many, critic_many) = parts(one), parts(many)
    for a, b in zip(actor_one, actor_many):
        assert torch.equal(a, b)
    assert not all(torch.equal(a, b) for a, b in zip(critic_one, critic_many))


def test_vf_learning_rate_sets_the_value_only_steps_rate_on_the_same_schedule():
    config = ReinforceConfig(
        learning_rate=1e-3, vf_learning_rate=4e-3, lr_schedule="linear", total_steps=2000, episodes_per_update=2
    )
    agent = Reinforce("CartPole-v1", config, seed=0)
    agent.open_envs()
    agent.num_timesteps = 500  # the rate is set after collecting, so a little past a quarter of the way
    agent.train_iteration()
    agent.close()
    left = 1.0 - agent.num_timesteps / 2000
    assert 0.5 < left < 0.75
    assert agent.optimizer.param_groups[0]["lr"] == pytest.approx(1e-3 * left)
    assert agent.value_optimizer.param_groups[0]["lr"] == pytest.approx(4e-3 * left)


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="malloc_trim is glibc's")
def test_release_free_heap_reaches_glibc_malloc_trim(monkeypatch):
    """On glibc the heap trim after each update is a real call that returns (1: memory was handed
    back, 0: none could be), not the no-op (None) of other C libraries; and REINFORCE's update makes it."""
    # a heap with free blocks to hand back: many small allocations, then most of them freed
    blocks = [bytearray(4096) for _ in range(20_000)]
    del blocks[::2], blocks[: len(blocks) // 2]
    assert agents.base.release_free_heap() in (0, 1)
    calls = []
    real = agents.base._malloc_trim()
    monkeypatch.setattr(agents.base, "_malloc_trim", lambda: lambda pad: calls.append(pad) or real(pad))
    agent = Reinforce("CartPole-v1", ReinforceConfig(episodes_per_update=1, hidden=[8]), seed=0)
    agent.open_envs()
    agent.train_iteration()
    agent.close()
    assert calls == [0]


# ----------------------------------------------------------------------------- collection


def counter_agent(baseline: bool, env_kwargs: dict | None = None, **config) -> Reinforce:
    agent = Reinforce(COUNTER, ReinforceConfig(baseline=baseline, gamma=0.5, **config), env_kwargs=env_kwargs)
    agent.open_envs()
    return agent


def test_truncated_episode_without_baseline_counts_as_ended():
    agent = counter_agent(baseline=False, episodes_per_update=1)
    ((obs, actions, returns),) = agent.collect()
    agent.close()
    assert obs[:, 0].tolist() == [0, 1, 2] and actions.shape == (3,)
    assert returns.tolist() == [1.75, 1.5, 1.0]


def test_truncated_episode_with_baseline_bootstraps_from_the_final_observation():
    agent = counter_agent(baseline=True, episodes_per_update=1)
    ((_, _, returns),) = agent.collect()
    agent.close()
    with torch.no_grad():
        v_final = agent.policy.value(torch.tensor([[3.0]])).item()  # V(true final obs), not V(reset obs)
    g2 = 1 + 0.5 * v_final
    assert returns.tolist() == pytest.approx([1 + 0.5 * (1 + 0.5 * g2), 1 + 0.5 * g2, g2])


def test_terminated_episode_with_baseline_is_not_bootstrapped():
    agent = counter_agent(baseline=True, env_kwargs={"terminate_at": 2}, episodes_per_update=1)
    ((_, _, returns),) = agent.collect()
    agent.close()
    assert returns.tolist() == [1.5, 1.0]


def test_unfinished_episodes_carry_over_and_only_whole_episodes_are_returned():
    agent = Reinforce("CartPole-v1", ReinforceConfig(n_envs=3, episodes_per_update=2), seed=0)
    agent.open_envs()
    lengths: list[int] = []
    for _ in range(3):
        episodes = agent.collect()
        assert len(episodes) >= 2
        lengths += [len(returns) for _, _, returns in episodes]
    running = sum(len(obs) for obs, _, _ in agent.running)
    agent.close()
    assert lengths == [length for _, _, length in agent.episodes.drain()]  # whole episodes, in order
    assert sum(lengths) + running == agent.num_timesteps  # nothing dropped, nothing counted twice


# ----------------------------------------------------------------------------- learning


@pytest.mark.parametrize("baseline", [True, False])
def test_reinforce_learns_a_contextual_bandit(baseline):
    config = ReinforceConfig(
        total_steps=2000, n_envs=8, episodes_per_update=32, learning_rate=0.01, hidden=[16], baseline=baseline
    )
    agent = Reinforce(BANDIT, config, seed=0).learn()
    agent.close()
    contexts = torch.tensor([0, 1])
    assert agent.predict(contexts.numpy()).tolist() == [0, 1]
    with torch.no_grad():
        probs = torch.softmax(agent.policy(contexts)[0], -1)
    assert probs[0, 0] > 0.9 and probs[1, 1] > 0.9


# ----------------------------------------------------------------------------- save/load, determinism


@pytest.mark.parametrize("normalize", [False, True])  # True: the checkpoint carries the statistics
@pytest.mark.parametrize("env_id", ["CartPole-v1", "Pendulum-v1"])
def test_save_load_gives_identical_actions(env_id, normalize):
    flags = dict(normalize_obs=normalize, normalize_reward=normalize)
    agent = Reinforce(env_id, ReinforceConfig(total_steps=400, episodes_per_update=1, **flags), seed=3).learn()
    agent.close()
    buffer = io.BytesIO()
    torch.save(agent.state_dict(), buffer)
    buffer.seek(0)
    fresh = Reinforce(env_id, ReinforceConfig(**flags), seed=99)
    fresh.load_state_dict(torch.load(buffer, weights_only=True))
    obs = np.stack([agent.observation_space.sample() for _ in range(16)])
    assert np.array_equal(agent.predict(obs), fresh.predict(obs))
    torch.manual_seed(0)
    sampled = agent.predict(obs, deterministic=False)
    torch.manual_seed(0)
    assert np.array_equal(sampled, fresh.predict(obs, deterministic=False))


def test_checkpoint_without_value_optimizer_loads_its_weights_but_does_not_resume():
    agent = Reinforce("CartPole-v1", ReinforceConfig(total_steps=400, episodes_per_update=1), seed=3).learn()
    agent.close()
    state = agent.state_dict()
    del state["modules"]["value_optimizer"]  # as written before the value-only steps had their own
    fresh = Reinforce("CartPole-v1", ReinforceConfig(), seed=99)
    fresh.load_state_dict(state, weights_only=True)
    obs = np.stack([agent.observation_space.sample() for _ in range(16)])
    assert np.array_equal(agent.predict(obs), fresh.predict(obs))
    with pytest.raises(ValueError, match="value_optimizer"):
        fresh.load_state_dict(state)


def test_same_seed_gives_identical_episode_returns():
    def returns(seed: int) -> list[float]:
        agent = Reinforce("CartPole-v1", ReinforceConfig(total_steps=1500, n_envs=2), seed=seed).learn()
        agent.close()
        return [r for _, r, _ in agent.episodes.drain()]

    first = returns(7)
    assert len(first) > 20
    assert returns(7) == first
    assert returns(8) != first


# ----------------------------------------------------------------------------- smoke runs


@pytest.mark.parametrize("env_id", ["CartPole-v1", "Pendulum-v1"])
def test_smoke_run_reports_metrics(env_id):
    seen: list[dict[str, float]] = []
    agent = Reinforce(env_id, ReinforceConfig(total_steps=400, episodes_per_update=1), seed=0)
    agent.learn(callback=lambda a, m: seen.append(m))
    agent.close()
    assert agent.num_timesteps >= 400 and seen
    keys = {"train/loss", "train/policy_loss", "train/value_loss", "train/entropy_loss",
            "train/explained_variance", "train/learning_rate", "train/n_updates"}  # fmt: skip
    if env_id == "Pendulum-v1":
        keys.add("train/std")
        assert seen[-1]["train/batch_steps"] == 200  # one whole 200-step episode per update
    assert keys <= set(seen[-1])
    assert all(math.isfinite(seen[-1][k]) for k in keys)


def test_config_check_names_the_fix():
    with pytest.raises(ValueError, match="episodes_per_update"):
        ReinforceConfig(episodes_per_update=0).check()
    with pytest.raises(ValueError, match="baseline"):
        ReinforceConfig(baseline=False, shared=True).check()
    with pytest.raises(ValueError, match="vf_learning_rate"):
        ReinforceConfig(vf_learning_rate=-1.0).check()


def test_presets_build():
    for env_id in ("CartPole-v1", "LunarLander-v3", "Acrobot-v1", "Pendulum-v1"):
        build_config(ReinforceConfig, preset("reinforce", env_id))


# ----------------------------------------------------------------------------- does it learn


@pytest.mark.slow
def test_reinforce_solves_cartpole():
    config = build_config(ReinforceConfig, preset("reinforce", "CartPole-v1"))
    agent = Reinforce("CartPole-v1", config, seed=0).learn()
    agent.close()
    # HW12's protocol: the mean total reward of 5 test episodes
    assert agent.evaluate(5, deterministic=True, seed=1000)["mean_reward"] >= 475


@pytest.mark.slow
def test_reinforce_learns_pendulum():
    # Box actions from reward alone: a random policy scores about -1200, a swing-up policy above -250
    config = build_config(ReinforceConfig, preset("reinforce", "Pendulum-v1"))
    agent = Reinforce("Pendulum-v1", config, seed=0).learn()
    agent.close()
    assert agent.evaluate(20, deterministic=True, seed=1000)["mean_reward"] >= -400


def test_observation_statistics_take_in_each_update_batch():
    """With normalize_obs, every step of an update's episodes joins the statistics after that update."""
    agent = Reinforce("CartPole-v1", ReinforceConfig(episodes_per_update=2, normalize_obs=True), seed=0)
    agent.open_envs()
    first = agent.train_iteration()["train/batch_steps"]
    assert float(agent.policy.obs_rms.count) == pytest.approx(first, abs=1e-3)
    second = agent.train_iteration()["train/batch_steps"]
    assert float(agent.policy.obs_rms.count) == pytest.approx(first + second, abs=1e-3)
    agent.close()
