"""An adversary between the env and the agent: every observation is perturbed within eps.

:class:`AdversarialObservation` wraps any env whose observations are a Box: a single-step
supervised env (digits: the classifier sees the attacked image) or a control task (CartPole: the
policy sees an attacked state, and the return measures what the attack costs). The perturbation
is one of :mod:`supervised.attacks`, computed on ``victim``, a network from observations to
logits: the agent's own (white box) or a proxy's (a transfer attack). Each attack raises the
loss of the victim's own greedy action on the clean observation, so it needs no labels and no
reward; ``attack="noise"`` is the random baseline of the same size.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import torch
from torch import nn

from supervised.attacks import PERTURBATIONS, check_eps, perturb


def observation_bounds(space: gym.spaces.Box) -> tuple[float, float] | None:
    """The box's bounds as one (low, high) pair when every value shares the same finite ones,
    e.g. (0, 1) for digits; None otherwise (CartPole's velocities are unbounded)."""
    low, high = np.unique(space.low), np.unique(space.high)
    if len(low) == 1 and len(high) == 1 and np.isfinite([low[0], high[0]]).all():
        return float(low[0]), float(high[0])
    return None


class AdversarialObservation(gym.ObservationWrapper):
    """``env`` whose observations reach the agent perturbed by ``attack`` (fgsm | ifgsm | pgd |
    noise) within the L-inf ball of radius ``eps``, gradients taken on ``victim``
    (observations (B, *obs_shape) -> logits (B, n_actions)). ``info`` is left as the env gave it;
    ``self.clean`` holds the last clean observation."""

    def __init__(self, env: gym.Env, victim: nn.Module, attack: str, eps: float, seed: int = 0):
        super().__init__(env)
        if not isinstance(env.observation_space, gym.spaces.Box):
            raise ValueError(f"an adversarial observation needs Box observations, got {env.observation_space}")
        if attack not in PERTURBATIONS:
            raise ValueError(f"unknown attack {attack!r}; choose one of {', '.join(PERTURBATIONS)}")
        check_eps(eps)
        self.victim, self.attack, self.eps = victim, attack, float(eps)
        self.bounds = observation_bounds(env.observation_space)
        self.generator = torch.Generator().manual_seed(seed)  # the random start and the noise
        self.device = next(victim.parameters()).device
        self.clean: np.ndarray | None = None

    def observation(self, observation: np.ndarray) -> np.ndarray:
        """The perturbed observation, in the env's dtype."""
        self.clean = np.asarray(observation)
        x = torch.as_tensor(self.clean, dtype=torch.float32, device=self.device)[None]  # (1, *obs_shape)
        with torch.enable_grad():
            x_adv = perturb(self.attack, self.victim, x, self.eps, bounds=self.bounds, generator=self.generator)
        return x_adv[0].cpu().numpy().astype(self.clean.dtype)
