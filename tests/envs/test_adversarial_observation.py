"""Tests for envs.adversarial: the observation an agent sees is attacked within eps."""

import gymnasium as gym
import numpy as np
import pytest
import torch
from torch import nn

import envs
from envs.adversarial import AdversarialObservation, observation_bounds
from supervised.attacks import fgsm


def victim(n_in: int, n_out: int, seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Flatten(), nn.Linear(n_in, n_out))


def test_cartpole_observations_move_by_exactly_eps_along_the_fgsm_direction():
    model = victim(4, 2)
    env = AdversarialObservation(gym.make("CartPole-v1"), model, "fgsm", 0.05)
    obs, _ = env.reset(seed=0)
    assert observation_bounds(env.observation_space) is None  # CartPole's bounds differ per value
    np.testing.assert_allclose(np.abs(obs - env.clean), 0.05, rtol=1e-5)
    expected = fgsm(model, torch.as_tensor(env.clean)[None], 0.05)[0].numpy()
    np.testing.assert_allclose(obs, expected, rtol=1e-6)
    obs, *_ = env.step(0)
    np.testing.assert_allclose(np.abs(obs - env.clean), 0.05, rtol=1e-5)


def test_digits_observations_stay_in_the_pixel_range_and_the_ball():
    env = AdversarialObservation(envs.make_env("gymlab/Digits-v0"), victim(64, 10), "pgd", 0.2)
    assert observation_bounds(env.observation_space) == (0.0, 1.0)
    for seed in range(3):
        obs, _ = env.reset(seed=seed)
        assert obs.dtype == np.float32 and obs.shape == (1, 8, 8)
        assert obs.min() >= 0 and obs.max() <= 1 and np.abs(obs - env.clean).max() <= 0.2 + 1e-6
        assert np.abs(obs - env.clean).max() > 0


def test_the_attack_flips_a_linear_policys_greedy_action_more_often_than_noise():
    model = victim(4, 2, seed=3)
    flips = {}
    for attack in ("fgsm", "noise"):
        env = AdversarialObservation(gym.make("CartPole-v1"), model, attack, 0.5)
        changed = []
        for seed in range(30):
            obs, _ = env.reset(seed=seed)
            with torch.no_grad():
                clean, attacked = (model(torch.as_tensor(o)[None]).argmax().item() for o in (env.clean, obs))
            changed.append(clean != attacked)
        flips[attack] = np.mean(changed)
    assert flips["fgsm"] > flips["noise"]


def test_a_targeted_attack_pushes_toward_its_action_and_counts_how_often_it_was_taken():
    model = victim(4, 2, seed=3)
    env = AdversarialObservation(gym.make("CartPole-v1"), model, "pgd", 10.0, target=1)
    obs, _ = env.reset(seed=0)
    assert env.target_action == 1
    with torch.no_grad():  # a radius this large reaches the target from anywhere
        assert model(torch.as_tensor(obs)[None]).argmax().item() == 1
    env.step(1)
    env.step(0)
    assert (env.targeted_steps, env.target_hits, env.target_rate) == (2, 1, 0.5)
    digits = AdversarialObservation(envs.make_env("gymlab/Digits-v0"), victim(64, 10), "fgsm", 0.2, target="next")
    digits.reset(seed=0)
    with torch.no_grad():
        clean = victim(64, 10)(torch.as_tensor(digits.clean)[None]).argmax().item()
    assert digits.target_action == (clean + 1) % 10


def test_bad_arguments_say_what_to_use():
    with pytest.raises(ValueError, match="a targeted attack is one of fgsm, ifgsm, pgd; 'noise' has no target"):
        AdversarialObservation(gym.make("CartPole-v1"), victim(4, 2), "noise", 0.1, target=0)
    with pytest.raises(ValueError, match="target must be a class in 0..1"):
        AdversarialObservation(gym.make("CartPole-v1"), victim(4, 2), "fgsm", 0.1, target=2)
    with pytest.raises(ValueError, match="a targeted attack needs discrete actions"):
        AdversarialObservation(gym.make("Pendulum-v1"), victim(3, 1), "fgsm", 0.1, target=0)
    with pytest.raises(ValueError, match="unknown attack 'cw'; choose one of fgsm, ifgsm, pgd, noise"):
        AdversarialObservation(gym.make("CartPole-v1"), victim(4, 2), "cw", 0.1)
    with pytest.raises(ValueError, match="eps must be a finite number >= 0"):
        AdversarialObservation(gym.make("CartPole-v1"), victim(4, 2), "fgsm", -1.0)
    with pytest.raises(ValueError, match="needs Box observations"):
        AdversarialObservation(gym.make("FrozenLake-v1"), victim(1, 4), "fgsm", 0.1)
