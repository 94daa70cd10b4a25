"""The speed machinery of agents/fast.py against the readable path: the same outputs, gradients,
actions and learned weights; the updates call the learners' loss functions, fast path included;
each private torch API has a public fallback, and which one ran is recorded (fast.PATHS)."""

import copy

import gymnasium as gym
import numpy as np
import pytest
import torch

import agents.a2c
import agents.optim
import agents.ppo
import agents.reinforce
import agents.rollout
from agents import fast
from agents.a2c import A2C
from agents.networks import ActorCritic
from agents.optim import flat_step, make_flat_optimizer
from agents.ppo import PPO
from agents.reinforce import Reinforce, reinforce_weights

CARTPOLE_OBS = gym.spaces.Box(-np.inf, np.inf, (4,), np.float32)
TWO_ACTIONS = gym.spaces.Discrete(2)
BOX_ACTIONS = gym.spaces.Box(-2.0, 2.0, (3,), np.float32)
SMALL = dict(n_envs=4, n_steps=16, hidden=[16, 16])
PPO_SMALL = dict(SMALL, batch_size=32, n_epochs=2)


def readable_twin(policy: ActorCritic) -> ActorCritic:
    """A copy of ``policy`` with the speed machinery off (the same weights)."""
    twin = copy.deepcopy(policy)
    twin.fused = False
    return twin


# ----------------------------------------------------------------------------- network: forward and backward


@pytest.mark.parametrize(
    "kwargs",
    [{}, {"shared": True}, {"critic": False}, {"act": "relu", "hidden": [32, 16, 8]}, {"box": True},
     {"box": True, "use_sde": True, "log_std_init": -1.0}, {"hidden": [16]}, {"ortho_init": False}],
)  # fmt: skip
@pytest.mark.parametrize("rows", [23, 80])  # below and above SIGMOID_TANH_ROWS
def test_fast_forward_and_backward_equal_the_readable_network(kwargs, rows):
    """forward_train + backward (stacked bodies, hand-written backward from autograd's d loss / d
    outputs) give the readable network's outputs and every weight's gradient of loss.backward();
    a second call adds to .grad as autograd does."""
    torch.manual_seed(4)
    kwargs = dict(kwargs)
    action_space = BOX_ACTIONS if kwargs.pop("box", False) else TWO_ACTIONS
    policy = ActorCritic(CARTPOLE_OBS, action_space, **kwargs)
    twin = readable_twin(policy)
    assert policy.fused and fast.fused_tensors(policy) is not None
    obs = torch.randn(rows, 4)
    actions = torch.stack([torch.as_tensor(action_space.sample()) for _ in range(rows)])
    weights = torch.randn(rows)

    def grads_of(net: ActorCritic, times: int = 1) -> list[torch.Tensor]:
        net.zero_grad(set_to_none=True)
        for _ in range(times):
            params, values, saved = net.forward_train(obs)
            assert (saved is not None) == net.fused
            log_prob, entropy = net.head.log_prob_entropy(params, actions)
            loss = (weights * log_prob).mean() - 0.03 * entropy.mean()
            if values is not None:
                loss = loss + (values - weights).square().mean()
            net.backward(loss, params, values, saved)
        return [p.grad.clone() for p in net.parameters()]

    with torch.no_grad():
        expected_outputs, outputs = twin(obs), policy(obs)
    for out, ref in zip(outputs, expected_outputs):
        if ref is None:
            assert out is None
        else:
            torch.testing.assert_close(out, ref, atol=1e-5, rtol=1e-5)
    expected = grads_of(twin)
    for grad, ref in zip(grads_of(policy), expected):
        torch.testing.assert_close(grad, ref, atol=1e-5, rtol=1e-4)
    for grad, ref in zip(grads_of(policy, times=2), expected):
        torch.testing.assert_close(grad, 2 * ref, atol=1e-5, rtol=1e-4)


def test_stacked_layout_survives_flattening_and_falls_back_when_broken():
    """The flat optimizer lays stacked layers out back to back (views, no copy); a network whose
    layout was broken runs the readable path instead of a wrong one."""
    torch.manual_seed(0)
    policy = ActorCritic(CARTPOLE_OBS, TWO_ACTIONS)
    (flat,), _ = make_flat_optimizer(policy, "adam", 1e-3)
    tensors = fast.fused_tensors(policy)
    assert tensors is not None and tensors[0].untyped_storage().data_ptr() == flat.untyped_storage().data_ptr()
    torch.testing.assert_close(tensors[0][1], policy.vf_body[0].weight.detach())
    with torch.no_grad():  # re-home one weight elsewhere: no longer stacked
        policy.vf_body[0].weight.data = policy.vf_body[0].weight.data.clone()
    assert fast.fused_tensors(policy) is None
    params, values, saved = policy.forward_train(torch.randn(5, 4))
    assert saved is None and params.requires_grad


def test_checkpoint_of_the_stacked_module_loads():
    """A state dict written when the bodies were one stacked module (bodies.weights.L (K, out, in))
    loads into the readable layout, block k into body k."""
    torch.manual_seed(0)
    policy = ActorCritic(CARTPOLE_OBS, TWO_ACTIONS)
    old = {k: v for k, v in policy.state_dict().items() if "_body." not in k}
    for layer in range(2):
        for name, key in (("weights", "weight"), ("biases", "bias")):
            old[f"bodies.{name}.{layer}"] = torch.stack(
                [getattr(policy.pi_body[2 * layer], key), getattr(policy.vf_body[2 * layer], key)]
            ).detach()
    other = ActorCritic(CARTPOLE_OBS, TWO_ACTIONS)
    other.load_state_dict(old)
    for a, b in zip(policy.parameters(), other.parameters()):
        assert torch.equal(a, b)


# ----------------------------------------------------------------------------- numpy acting


@pytest.mark.parametrize(
    "kwargs", [{}, {"shared": True}, {"critic": False}, {"act": "relu", "hidden": [32, 16, 8]}, {"box": True}]
)
def test_numpy_acting_is_the_same_policy(kwargs):
    """act_numpy / value_numpy: the torch forward's numbers, and samples from the same distribution."""
    torch.manual_seed(5)
    kwargs = dict(kwargs)
    action_space = BOX_ACTIONS if kwargs.pop("box", False) else gym.spaces.Discrete(3)
    policy = ActorCritic(CARTPOLE_OBS, action_space, ortho_init=False, **kwargs)
    obs = np.random.default_rng(0).normal(size=(6, 4)).astype(np.float32)
    assert policy.numpy_acting(obs)
    assert not policy.numpy_acting(obs.astype(np.float64)) and not policy.numpy_acting(np.zeros((65, 4), np.float32))
    with torch.no_grad():
        out = policy.act(torch.as_tensor(obs), deterministic=True)
    actions, log_prob, values = policy.act_numpy(obs, np.random.default_rng(1), deterministic=True)
    np.testing.assert_allclose(actions, out.actions.numpy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(log_prob, out.log_prob.numpy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(values, out.values.numpy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(policy.value_numpy(obs), out.values.numpy(), rtol=1e-5, atol=1e-5)
    rng = np.random.default_rng(2)
    many = np.repeat(obs[:1], 64, axis=0)
    sampled = [policy.act_numpy(many, rng) for _ in range(200)]  # 12,800 samples of one state
    actions = np.concatenate([a for a, _, _ in sampled])
    log_prob = np.concatenate([lp for _, lp, _ in sampled])
    with torch.no_grad():
        params, _ = policy(torch.as_tensor(many[:1]))
        torch_log_prob = policy.head.log_prob(params.expand(len(actions), -1), torch.as_tensor(actions))
    np.testing.assert_allclose(log_prob, torch_log_prob.numpy(), rtol=1e-4, atol=1e-4)  # log-probs of the samples
    if isinstance(action_space, gym.spaces.Discrete):
        freq = np.bincount(actions, minlength=3) / len(actions)
        np.testing.assert_allclose(freq, torch.softmax(params[0], -1).numpy(), atol=0.015)
    else:
        np.testing.assert_allclose(actions.mean(0), params[0].numpy(), atol=0.03)
        np.testing.assert_allclose(actions.std(0), policy.head.log_std.exp().detach().numpy(), rtol=0.03)


def test_numpy_acting_sees_optimizer_steps():
    """The numpy forward reads the weights in place: after a step on the flat parameter, it agrees
    with the torch forward again."""
    from agents.optim import make_flat_optimizer

    torch.manual_seed(6)
    policy = ActorCritic(CARTPOLE_OBS, TWO_ACTIONS)
    params, optimizer = make_flat_optimizer(policy, "adam", 0.1)
    obs = np.ones((3, 4), dtype=np.float32)
    before = policy.value_numpy(obs).copy()
    policy.value(torch.as_tensor(obs)).sum().backward()
    optimizer.step()
    after = policy.value_numpy(obs)
    assert not np.allclose(before, after)
    with torch.no_grad():
        np.testing.assert_allclose(after, policy.value(torch.as_tensor(obs)).numpy(), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("n_matrices", [3, 1])  # one per row; one for a batch of another size
def test_gsde_actor_critic_numpy_and_torch_act_alike_and_resample_per_env(n_matrices):
    torch.manual_seed(10)
    policy = ActorCritic(CARTPOLE_OBS, BOX_ACTIONS, use_sde=True, log_std_init=-1.0)
    obs = np.random.default_rng(3).normal(size=(3, 4)).astype(np.float32)
    assert policy.fused and policy.numpy_acting(obs)
    assert not readable_twin(policy).numpy_acting(obs)
    policy.reset_noise(n_matrices)
    with torch.no_grad():
        first, again = policy.act(torch.as_tensor(obs)), policy.act(torch.as_tensor(obs))
    torch.testing.assert_close(first.actions, again.actions)  # the same matrices: the same action
    for deterministic in (False, True):
        with torch.no_grad():
            out = policy.act(torch.as_tensor(obs), deterministic)
        actions, log_prob, values = policy.act_numpy(obs, np.random.default_rng(0), deterministic)
        np.testing.assert_allclose(actions, out.actions.numpy(), rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(log_prob, out.log_prob.numpy(), rtol=1e-5, atol=1e-4)
        np.testing.assert_allclose(values, out.values.numpy(), rtol=1e-5, atol=1e-5)
    policy.reset_noise(n_matrices)
    with torch.no_grad():
        other = policy.act(torch.as_tensor(obs)).actions
    assert not torch.allclose(first.actions, other)


# ----------------------------------------------------------------------------- private torch APIs, public fallbacks


def test_fused_adam_fallback_runs_without_the_private_kernel_and_steps_alike(monkeypatch):
    """Without torch._fused_adam_ the step is optimizer.step(): recorded as "public", same weights."""
    torch.manual_seed(0)
    flats = [torch.nn.Parameter(torch.randn(50)) for _ in range(2)]
    flats[1].data.copy_(flats[0].data)
    optimizers = [torch.optim.Adam([f], lr=1e-2, eps=1e-5, fused=True) for f in flats]
    grads = [torch.randn(50) for _ in range(4)]
    for i, flat in enumerate(flats):
        if i == 1:
            monkeypatch.setattr(fast, "FUSED_ADAM", None)
        for grad in grads:
            flat.grad = grad.clone()
            fast.optimizer_step(optimizers[i])
        assert fast.PATHS["adam"] == ("private" if i == 0 else "public")
    torch.testing.assert_close(flats[0], flats[1])


@pytest.mark.parametrize("act", ["tanh", "relu"])
def test_private_backward_ops_have_public_fallbacks(monkeypatch, act):
    """Without torch.ops.aten.*_backward and torch._foreach_add_ the hand-written backward uses
    the formulas and one add_ per tensor: recorded as "public", the same gradients."""
    torch.manual_seed(1)
    policy = ActorCritic(CARTPOLE_OBS, TWO_ACTIONS, act=act, hidden=[16, 16])
    make_flat_optimizer(policy, "adam", 1e-3)
    obs, actions = torch.randn(70, 4), torch.randint(0, 2, (70,))

    def grads() -> list[torch.Tensor]:
        for p in policy.parameters():
            p.grad.zero_()
        for _ in range(2):  # the second pass accumulates: the foreach add runs
            params, values, saved = policy.forward_train(obs)
            log_prob, _ = policy.head.log_prob_entropy(params, actions)
            policy.backward(log_prob.mean() + values.square().mean(), params, values, saved)
        return [p.grad.clone() for p in policy.parameters()]

    private = grads()
    assert fast.PATHS["activation_backward"] == "private" and fast.PATHS["foreach_add"] == "private"
    for name in ("TANH_BACKWARD", "THRESHOLD_BACKWARD", "FOREACH_ADD"):
        monkeypatch.setattr(fast, name, None)
    public = grads()
    assert fast.PATHS["activation_backward"] == "public" and fast.PATHS["foreach_add"] == "public"
    for a, b in zip(private, public):
        torch.testing.assert_close(a, b)


# ----------------------------------------------------------------------------- learners: the loss that runs


def collected(cls, fast_: bool, **config):
    """A learner (fast or readable) with one finished rollout in its buffer."""
    agent = cls("CartPole-v1", seed=0, fast=fast_, **{**(PPO_SMALL if cls is PPO else SMALL), **config})
    agent.open_envs()
    torch.manual_seed(0)  # torch acting (fast=false) samples from torch's stream
    agent.buffer.finish(agent.collect() if cls is PPO else agents.rollout.collect_rollout(agent, agent.policy, agent.buffer),
                        agent.config.gamma, agent.config.gae_lambda)  # fmt: skip
    return agent


def flat_weights(agent) -> torch.Tensor:
    return agent.params[0].detach().clone()


@pytest.mark.parametrize("fast_", [True, False])
@pytest.mark.parametrize(("cls", "module", "name"), [(PPO, agents.ppo, "ppo_loss"), (A2C, agents.a2c, "a2c_loss")])
def test_patching_the_loss_changes_what_is_learned(monkeypatch, cls, module, name, fast_):
    """The update calls the module-level loss, fast path included: doubling the loss doubles the
    first step's gradient (Adam's first step is sign-like, so compare the gradient), and the loss
    the patch sees is what is learned from."""
    seen = []
    real = getattr(module, name)
    agent = collected(cls, fast_)
    before = flat_weights(agent)
    captured = []
    monkeypatch.setattr(
        agents.optim, "clip_grad_norm", lambda params, max_norm: captured.append(params[0].grad.clone())
    )

    def doubled(*args, **kwargs):
        loss = real(*args, **kwargs)
        seen.append(loss.total.item())
        return loss._replace(total=2.0 * loss.total)

    monkeypatch.setattr(module, name, doubled)
    agent.update()
    assert seen and not torch.equal(before, flat_weights(agent))
    patched_grad = captured[0]

    monkeypatch.setattr(module, name, real)
    agent = collected(cls, fast_)
    captured.clear()
    agent.update()
    torch.testing.assert_close(patched_grad, 2.0 * captured[0], rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("fast_", [True, False])
def test_patching_reinforce_loss_changes_what_is_learned(monkeypatch, fast_):
    """REINFORCE's update calls reinforce_loss: a loss with its sign flipped moves the weights the other way."""

    def first_step(flip: bool) -> torch.Tensor:
        agent = Reinforce("CartPole-v1", seed=0, fast=fast_, episodes_per_update=2, hidden=[16], baseline=False)
        before = flat_weights(agent)
        if flip:
            real = agents.reinforce.reinforce_loss
            monkeypatch.setattr(agents.reinforce, "reinforce_loss", lambda *a, **k: tuple(-t for t in real(*a, **k)))
        with agent.own_process_state():
            agent.open_envs()
            agent.train_iteration()
        agent.close()
        monkeypatch.undo()
        return flat_weights(agent) - before

    step, flipped = first_step(False), first_step(True)
    assert step.abs().max() > 0
    torch.testing.assert_close(flipped, -step, rtol=1e-3, atol=1e-6)


# ----------------------------------------------------------------------------- learners: fast = readable


@pytest.mark.parametrize("cls", [PPO, A2C])
def test_fast_and_readable_updates_learn_the_same_weights(cls):
    """Same seed, same rollout: N updates with fast=true and with fast=false end at the same weights
    (to float rounding), with the fast path's private ops and numpy-free update all engaged."""
    agents_ = []
    for fast_ in (True, False):
        agent = cls("CartPole-v1", seed=0, fast=fast_, **(PPO_SMALL if cls is PPO else SMALL))
        agents_.append(agent)
    fast_agent, readable = agents_
    assert fast_agent.policy.fused and not readable.policy.fused
    torch.testing.assert_close(flat_weights(fast_agent), flat_weights(readable), rtol=0, atol=0)
    fast_agent.open_envs()
    last_values = agents.rollout.collect_rollout(fast_agent, fast_agent.policy, fast_agent.buffer)
    for name in ("obs", "actions", "log_prob", "values", "rewards", "terminated", "truncated", "final_values"):
        getattr(readable.buffer, name)[...] = getattr(fast_agent.buffer, name)
    readable.buffer.pos = fast_agent.buffer.pos
    for agent in agents_:
        agent.buffer.finish(last_values, 0.99, 0.95)
    readable.rng = np.random.default_rng(7)
    fast_agent.rng = np.random.default_rng(7)
    fast.PATHS.clear()
    for _ in range(5):
        fast_agent.update()
        readable.update()
    assert fast.PATHS.get("activation_backward") == "private"
    start = flat_weights(cls("CartPole-v1", seed=0, **SMALL))
    moved = (flat_weights(readable) - start).abs().max()
    apart = (flat_weights(fast_agent) - flat_weights(readable)).abs().max()
    # Adam's steps are sign-like for tiny gradients, so rounding shows up at ~1e-5 after 20 steps
    assert moved > 1e-3 and apart < 1e-2 * moved, (float(moved), float(apart))
    torch.testing.assert_close(flat_weights(fast_agent), flat_weights(readable), rtol=1e-3, atol=5e-5)
    fast_agent.close()


def test_fast_and_readable_reinforce_learn_the_same_weights():
    """REINFORCE on the same batch: fast and readable accumulate the same gradients, step alike."""
    learners = [
        Reinforce("CartPole-v1", seed=0, fast=fast_, hidden=[16, 16], ent_coef=0.01, value_steps=3)
        for fast_ in (True, False)
    ]
    torch.manual_seed(0)
    obs, actions, returns = torch.randn(40, 4), torch.randint(0, 2, (40,)), torch.randn(40) * 3
    for agent in learners:
        for _ in range(4):
            with torch.no_grad():
                weights = reinforce_weights(returns, agent.policy.value(obs))
            agent._accumulate_gradient(obs, actions, returns, weights)
            flat_step(agent.params, agent.optimizer, 0.5, agent.config.fast)
            agent._accumulate_gradient(obs, actions, returns, None)
            flat_step(agent.params, agent.value_optimizer, 0.5, agent.config.fast)
    torch.testing.assert_close(flat_weights(learners[0]), flat_weights(learners[1]), rtol=1e-4, atol=1e-5)


def test_fast_false_trains_through_gymnasium_envs():
    """The switch also turns off the array CartPole: the readable run steps gymnasium's vector env."""
    from envs.native import SerialVectorEnv

    agents_ = {}
    for fast_ in (True, False):
        agent = PPO("CartPole-v1", seed=0, fast=fast_, **PPO_SMALL)
        agent.open_envs()
        agents_[fast_] = type(agent.envs).__module__
        agent.close()
    assert agents_[True].startswith("envs.") and not agents_[False].startswith("envs.")
    assert SerialVectorEnv.__module__.startswith("envs.")
