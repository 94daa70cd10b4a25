"""The speed machinery of agents/fast.py against the readable path: the same outputs, gradients,
actions and learned weights; the updates call the learners' loss functions, fast path included;
each private torch API has a public fallback, and which one ran is recorded (fast.PATHS)."""

import copy

import gymnasium as gym
import numpy as np
import pytest
import torch

from agents import fast
from agents.networks import ActorCritic
from agents.optim import make_flat_optimizer

CARTPOLE_OBS = gym.spaces.Box(-np.inf, np.inf, (4,), np.float32)
TWO_ACTIONS = gym.spaces.Discrete(2)
BOX_ACTIONS = gym.spaces.Box(-2.0, 2.0, (3,), np.float32)
SMALL = dict(n_envs=4, n_steps=16, batch_size=32, n_epochs=2, hidden=[16, 16])


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
