"""Known answers for the shared networks: head formulas vs torch.distributions, actor-critic
layouts, observation normalisation. The fast path's equality to this readable one: test_fast.py."""

import gymnasium as gym
import numpy as np
import pytest
import torch

from agents.networks import (
    ActorCritic,
    CategoricalHead,
    GaussianHead,
    GSDEHead,
    RunningMeanStd,
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


def test_orthogonal_init_per_body():
    """Each body's layers are orthogonal with gain sqrt 2 and zero biases; actor and critic differ."""
    torch.manual_seed(3)
    policy = ActorCritic(CARTPOLE_OBS, TWO_ACTIONS)
    for net in (policy.pi_body, policy.vf_body):
        for linear in [m for m in net if isinstance(m, torch.nn.Linear)]:
            weight = linear.weight.detach()
            rows = min(weight.shape)
            gram = weight @ weight.T if weight.shape[0] <= weight.shape[1] else weight.T @ weight
            torch.testing.assert_close(gram, 2.0 * torch.eye(rows), atol=1e-5, rtol=0)
            assert torch.all(linear.bias == 0)
    assert not torch.equal(policy.pi_body[2].weight, policy.vf_body[2].weight)


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


def test_gsde_refuses_discrete_actions():
    with pytest.raises(ValueError, match="use_sde needs 1-D Box actions"):
        ActorCritic(CARTPOLE_OBS, TWO_ACTIONS, use_sde=True)


def test_separable_conv_counts_and_shapes():
    from agents.networks import CNN, SeparableConv2d

    full, separable = torch.nn.Conv2d(32, 64, 3, padding=1), SeparableConv2d(32, 64, 3, padding=1)
    assert sum(p.numel() for p in full.parameters()) == 32 * 64 * 9 + 64 == 18496
    assert sum(p.numel() for p in separable.parameters()) == (32 * 9 + 32) + (32 * 64 + 64) == 2432
    x = torch.randn(2, 32, 8, 8)
    assert separable(x).shape == full(x).shape == (2, 64, 8, 8)
    # the depthwise step filters each channel alone: changing channel 0 changes no other channel's map
    y = x.clone()
    y[:, 0] += 1.0
    assert torch.equal(separable.depthwise(x)[:, 1:], separable.depthwise(y)[:, 1:])
    assert CNN((1, 8, 8), 64, separable=True).convs[2].__class__ is SeparableConv2d


def test_supervised_builds_a_separable_cnn_for_images_only():
    from agents.supervised import Supervised, SupervisedConfig

    cnn = Supervised("gymlab/Digits-v0", SupervisedConfig(net="cnn"), device="cpu").model
    separable = Supervised("gymlab/Digits-v0", SupervisedConfig(net="separable_cnn"), device="cpu").model
    assert sum(p.numel() for p in separable.parameters()) < sum(p.numel() for p in cnn.parameters())
    assert separable(torch.zeros(3, 1, 8, 8)).shape == (3, 10)
    with pytest.raises(ValueError, match="net=separable_cnn needs image observations"):
        Supervised("gymlab/Diabetes-v0", SupervisedConfig(net="separable_cnn"), device="cpu")
