"""Known answers for the shared networks: head formulas vs torch.distributions, the fused
actor-critic vs separate MLPs (outputs and gradients), closed-form head backward vs autograd."""

import math

import gymnasium as gym
import numpy as np
import pytest
import torch

from agents.networks import (
    ActorCritic,
    CategoricalHead,
    FusedMLPBodies,
    GaussianHead,
    GSDEHead,
    RunningMeanStd,
    actor_critic_backward,
    mlp,
)

CARTPOLE_OBS = gym.spaces.Box(-np.inf, np.inf, (4,), np.float32)
TWO_ACTIONS = gym.spaces.Discrete(2)
BOX_ACTIONS = gym.spaces.Box(-2.0, 2.0, (3,), np.float32)


def test_categorical_head_matches_torch_distributions():
    torch.manual_seed(0)
    logits = torch.randn(50, 4)
    actions = torch.randint(0, 4, (50,))
    dist = torch.distributions.Categorical(logits=logits)
    head = CategoricalHead(8, 4)
    torch.testing.assert_close(head.log_prob(logits, actions), dist.log_prob(actions))
    torch.testing.assert_close(head.entropy(logits), dist.entropy())
    log_prob, entropy = head.log_prob_entropy(logits, actions)
    torch.testing.assert_close(log_prob, dist.log_prob(actions))
    torch.testing.assert_close(entropy, dist.entropy())
    assert torch.equal(head.mode(logits), logits.argmax(-1))


def test_categorical_sample_frequencies():
    torch.manual_seed(0)
    logits = torch.log(torch.tensor([[0.2, 0.5, 0.3]])).expand(20000, 3)
    counts = torch.bincount(CategoricalHead.sample(logits), minlength=3).float() / 20000
    torch.testing.assert_close(counts, torch.tensor([0.2, 0.5, 0.3]), atol=0.015, rtol=0)


def test_gaussian_head_matches_torch_distributions():
    torch.manual_seed(0)
    head = GaussianHead(8, 3, log_std_init=-0.5)
    mean, actions = torch.randn(40, 3), torch.randn(40, 3)
    dist = torch.distributions.Normal(mean, head.log_std.exp())
    torch.testing.assert_close(head.log_prob(mean, actions), dist.log_prob(actions).sum(-1))
    torch.testing.assert_close(head.entropy(mean), dist.entropy().sum(-1))
    assert torch.equal(head.mode(mean), mean)


@pytest.mark.parametrize("head_kind", ["categorical", "gaussian"])
def test_head_backward_equals_autograd(head_kind):
    torch.manual_seed(1)
    if head_kind == "categorical":
        head, params, actions = CategoricalHead(8, 3), torch.randn(30, 3), torch.randint(0, 3, (30,))
    else:
        head, params, actions = GaussianHead(8, 2, log_std_init=0.3), torch.randn(30, 2), torch.randn(30, 2)
    params.requires_grad_(True)
    grad_log_prob, grad_entropy = torch.randn(30), -0.07
    log_prob, entropy = head.log_prob_entropy(params, actions)
    (grad_log_prob * log_prob + grad_entropy * entropy).sum().backward()
    grad_params, grad_log_std = head.log_prob_entropy_backward(params.detach(), actions, grad_log_prob, grad_entropy)
    torch.testing.assert_close(grad_params, params.grad)
    if head_kind == "gaussian":
        torch.testing.assert_close(grad_log_std, head.log_std.grad)
    else:
        assert grad_log_std is None


def separate_mlps(policy: ActorCritic, hidden: list[int], act: str) -> list[torch.nn.Sequential]:
    """Ordinary nn.Sequential MLPs holding copies of the fused bodies' blocks."""
    bodies = []
    for k in range(policy.bodies.k):
        net = mlp([policy.bodies.weights[0].shape[2], *hidden], act, output_act=act)
        linears = [m for m in net if isinstance(m, torch.nn.Linear)]
        for linear, (weight, bias) in zip(linears, policy.bodies.block(k)):
            linear.weight.data.copy_(weight)
            linear.bias.data.copy_(bias)
        bodies.append(net)
    return bodies


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"shared": True},
        {"critic": False},
        {"act": "relu", "hidden": [32, 16, 8]},
        {"hidden": [16]},
        {"ortho_init": False},
    ],
)
def test_fused_actor_critic_equals_separate_mlps(kwargs):
    torch.manual_seed(2)
    hidden, act = kwargs.get("hidden", [64, 64]), kwargs.get("act", "tanh")
    policy = ActorCritic(CARTPOLE_OBS, TWO_ACTIONS, **kwargs)
    assert policy.fused
    bodies = separate_mlps(policy, hidden, act)
    obs = torch.randn(37, 4)
    logits, values = policy(obs)
    ref_logits = policy.head.linear(bodies[0](obs))
    torch.testing.assert_close(logits, ref_logits, atol=1e-6, rtol=1e-5)
    weights = torch.randn_like(logits)
    loss, ref_loss = (weights * logits).sum(), (weights * ref_logits).sum()
    if policy.has_critic:
        ref_values = policy.vf_head(bodies[-1](obs)).squeeze(-1)
        torch.testing.assert_close(values, ref_values, atol=1e-6, rtol=1e-5)
        loss, ref_loss = loss + 3 * values.sum(), ref_loss + 3 * ref_values.sum()
    else:
        assert values is None
    fused_params = [*policy.bodies.weights, *policy.bodies.biases]
    grads = torch.autograd.grad(loss, fused_params + list(policy.head.parameters()))
    ref_grads = torch.autograd.grad(
        ref_loss, [p for b in bodies for p in b.parameters()] + list(policy.head.parameters())
    )
    n_layers, n_bodies = len(hidden), len(bodies)
    for layer in range(n_layers):
        for k in range(n_bodies):
            body_grads = ref_grads[2 * n_layers * k : 2 * n_layers * (k + 1)]
            torch.testing.assert_close(grads[layer][k], body_grads[2 * layer], atol=1e-5, rtol=1e-4)
            torch.testing.assert_close(grads[n_layers + layer][k], body_grads[2 * layer + 1], atol=1e-5, rtol=1e-4)
    for grad, ref in zip(grads[2 * n_layers :], ref_grads[2 * n_layers * n_bodies :]):
        torch.testing.assert_close(grad, ref, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize(
    "kwargs",
    [{}, {"shared": True}, {"critic": False}, {"act": "relu", "hidden": [32, 16, 8]}, {"box": True},
     {"box": True, "use_sde": True, "log_std_init": -1.0}],
)  # fmt: skip
def test_hand_written_backward_equals_autograd_and_accumulates(kwargs):
    """forward_update + actor_critic_backward(saved): the outputs and the gradients of the autograd
    path; a second call adds to .grad as autograd does."""
    torch.manual_seed(4)
    kwargs = dict(kwargs)
    action_space = BOX_ACTIONS if kwargs.pop("box", False) else TWO_ACTIONS
    policy = ActorCritic(CARTPOLE_OBS, action_space, **kwargs)
    obs = torch.randn(23, 4)
    actions = torch.stack([torch.as_tensor(action_space.sample()) for _ in range(23)])
    grad_log_prob, grad_values = torch.randn(23), torch.randn(23)

    def grads_of(hand_written: bool, times: int = 1) -> list[torch.Tensor]:
        policy.zero_grad(set_to_none=True)
        for _ in range(times):
            if hand_written:
                params, values, saved = policy.forward_update(obs)
                head_saved = policy.head.log_prob_entropy_saved(params, actions)[2]
            else:
                (params, values), saved, head_saved = policy(obs), None, None
            actor_critic_backward(policy, params, values, actions, grad_log_prob, -0.03,
                                  grad_values if values is not None else None, saved, head_saved)  # fmt: skip
        return [p.grad.clone() for p in policy.parameters()]

    with torch.no_grad():
        reference = policy(obs)
    params, values, saved = policy.forward_update(obs)
    assert saved is not None
    torch.testing.assert_close(params, reference[0])
    if policy.has_critic:
        torch.testing.assert_close(values, reference[1])
    expected = grads_of(hand_written=False)
    for grad, ref in zip(grads_of(hand_written=True), expected):
        torch.testing.assert_close(grad, ref, atol=1e-6, rtol=1e-5)
    for grad, ref in zip(grads_of(hand_written=True, times=2), expected):
        torch.testing.assert_close(grad, 2 * ref, atol=1e-6, rtol=1e-5)


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


def test_fused_orthogonal_init_per_block():
    torch.manual_seed(3)
    bodies = FusedMLPBodies(4, [64, 64], "tanh", k=2)
    bodies.orthogonal_init(math.sqrt(2))
    for k in range(2):
        for weight, bias in bodies.block(k):
            rows = weight.shape[0] if weight.shape[0] <= weight.shape[1] else weight.shape[1]
            gram = weight @ weight.T if weight.shape[0] <= weight.shape[1] else weight.T @ weight
            torch.testing.assert_close(gram, 2.0 * torch.eye(rows), atol=1e-5, rtol=0)
            assert torch.all(bias == 0)
    assert not torch.equal(bodies.weights[1][0], bodies.weights[1][1])  # independent blocks


def test_act_and_evaluate_agree():
    torch.manual_seed(4)
    policy = ActorCritic(CARTPOLE_OBS, BOX_ACTIONS, log_std_init=-1.0)
    obs = torch.randn(9, 4)
    with torch.no_grad():
        out = policy.act(obs)
        log_prob, entropy, values = policy.evaluate(obs, out.actions)
    torch.testing.assert_close(out.log_prob, log_prob)
    torch.testing.assert_close(out.values, values)
    torch.testing.assert_close(policy.value(obs), values)
    assert entropy.shape == (9,)


def test_image_and_other_activations_use_plain_modules():
    image = gym.spaces.Box(0, 255, (8, 8, 1), np.uint8)
    assert not ActorCritic(image, TWO_ACTIONS, hidden=[32]).fused
    policy = ActorCritic(CARTPOLE_OBS, TWO_ACTIONS, act="gelu")
    assert not policy.fused
    logits, values = policy(torch.randn(5, 4))
    assert logits.shape == (5, 2) and values.shape == (5,)


# ----------------------------------------------------------------------------- observation normalisation


def test_running_mean_std_merges_batches_as_one():
    """Three batches merged one by one give the mean and (population) variance of all of them."""
    rng = np.random.default_rng(0)
    batches = [rng.normal(3.0, 2.0, size=(n, 4)) for n in (1, 50, 7)]
    rms = RunningMeanStd((4,))
    for batch in batches:
        rms.update(batch)
    data = np.concatenate(batches)
    np.testing.assert_allclose(rms.mean.numpy(), data.mean(0), rtol=1e-5)
    np.testing.assert_allclose(rms.var.numpy(), data.var(0), rtol=1e-4)
    assert float(rms.count) == pytest.approx(58, abs=1e-3)
    x = torch.tensor([[3.0, 3.0, 3.0, 1e6]])
    expected = (x.numpy() - data.mean(0)) / np.sqrt(data.var(0) + 1e-8)
    expected[0, 3] = 10.0  # clipped
    np.testing.assert_allclose(rms.normalize(x).numpy(), expected, rtol=1e-4, atol=1e-5)  # prior: count 1e-4
    np.testing.assert_allclose(rms.normalize_numpy(x.numpy()), expected, rtol=1e-4, atol=1e-5)


def test_normalize_obs_is_the_same_network_on_standardised_input():
    """With normalize_obs, torch and numpy forwards equal the plain network fed (x - mean) / std,
    and the numpy path follows the statistics as they change."""
    torch.manual_seed(7)
    normed = ActorCritic(CARTPOLE_OBS, TWO_ACTIONS, normalize_obs=True)
    plain = ActorCritic(CARTPOLE_OBS, TWO_ACTIONS)
    plain.load_state_dict({k: v for k, v in normed.state_dict().items() if not k.startswith("obs_rms.")})
    rng = np.random.default_rng(1)
    obs = rng.normal(size=(5, 4)).astype(np.float32)
    for data in (rng.normal(5.0, 3.0, size=(40, 4)), rng.normal(-1.0, 0.5, size=(40, 4))):
        normed.update_obs_stats(data)
        standardised = (obs - normed.obs_rms.mean.numpy()) / np.sqrt(normed.obs_rms.var.numpy() + 1e-8)
        with torch.no_grad():
            expected = plain(torch.as_tensor(standardised, dtype=torch.float32))
            got = normed(torch.as_tensor(obs))
        torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(normed.value_numpy(obs), expected[1].numpy(), rtol=1e-5, atol=1e-5)
        actions = normed.act_numpy(obs, np.random.default_rng(0), deterministic=True)[0]
        np.testing.assert_array_equal(actions, expected[0].argmax(-1).numpy())
    assert {"obs_rms.mean", "obs_rms.var", "obs_rms.count"} <= set(normed.state_dict())


def test_normalize_obs_refuses_what_it_cannot_standardise():
    with pytest.raises(ValueError, match="normalize_obs needs flat Box observations"):
        ActorCritic(gym.spaces.Discrete(5), TWO_ACTIONS, normalize_obs=True)
    with pytest.raises(ValueError, match="normalize_obs needs flat Box observations"):
        ActorCritic(gym.spaces.Box(0, 255, (32, 32, 3), np.uint8), TWO_ACTIONS, normalize_obs=True)


# ----------------------------------------------------------------------------- gSDE


def test_gsde_head_equals_sb3_state_dependent_noise():
    """Log-prob, entropy and the noise phi(s) E of the gSDE head are SB3's
    StateDependentNoiseDistribution's (full std, no expln, no squashing, features not learned)."""
    from stable_baselines3.common.distributions import StateDependentNoiseDistribution

    torch.manual_seed(8)
    features, actions_dim, batch = 5, 2, 7
    head = GSDEHead(features, actions_dim, log_std_init=-0.5)
    with torch.no_grad():
        head.log_std.add_(0.3 * torch.randn_like(head.log_std))
    phi, mean = torch.randn(batch, features), torch.randn(batch, actions_dim)
    params = torch.cat([mean, phi], dim=1)
    sb3 = StateDependentNoiseDistribution(actions_dim, full_std=True, use_expln=False, learn_features=False)
    sb3.sample_weights(head.log_std.detach(), batch_size=batch)
    dist = sb3.proba_distribution(mean, head.log_std.detach(), phi)
    actions = dist.sample()
    log_prob, entropy = head.log_prob_entropy(params, actions)
    torch.testing.assert_close(log_prob, dist.log_prob(actions), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(entropy, dist.entropy(), rtol=1e-5, atol=1e-5)
    head.exploration = sb3.exploration_matrices.clone()
    torch.testing.assert_close(head.sample(params) - mean, sb3.get_noise(phi), rtol=1e-5, atol=1e-6)
    assert torch.equal(head.mode(params), mean)


def test_gsde_head_backward_equals_autograd_and_stops_at_phi():
    torch.manual_seed(9)
    head = GSDEHead(4, 3, log_std_init=-1.0)
    params = torch.randn(6, 3 + 4)
    actions = torch.randn(6, 3)
    weights = torch.randn(6)
    grad_params, grad_log_std = head.log_prob_entropy_backward(params, actions, weights, 0.25)
    p = params.clone().requires_grad_(True)
    log_prob, entropy = head.log_prob_entropy(p, actions)
    ((weights * log_prob).sum() + 0.25 * entropy.sum()).backward()
    torch.testing.assert_close(grad_params[:, :3], p.grad[:, :3])
    assert torch.all(grad_params[:, 3:] == 0)  # phi is detached in forward: the body gets the mean's share
    torch.testing.assert_close(grad_log_std, head.log_std.grad)


@pytest.mark.parametrize("n_matrices", [3, 1])  # one per row; one for a batch of another size
def test_gsde_actor_critic_numpy_and_torch_act_alike_and_resample_per_env(n_matrices):
    torch.manual_seed(10)
    policy = ActorCritic(CARTPOLE_OBS, BOX_ACTIONS, use_sde=True, log_std_init=-1.0)
    obs = np.random.default_rng(3).normal(size=(3, 4)).astype(np.float32)
    assert policy.fused and policy.numpy_acting(obs)
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


def test_gsde_refuses_discrete_actions():
    with pytest.raises(ValueError, match="use_sde needs 1-D Box actions"):
        ActorCritic(CARTPOLE_OBS, TWO_ACTIONS, use_sde=True)
