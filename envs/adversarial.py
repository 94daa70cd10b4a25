"""An adversary between the env and the agent: every observation is perturbed within eps.

:class:`AdversarialObservation` wraps any env whose observations are a Box: a single-step
supervised env (digits: the classifier sees the attacked image) or a control task (CartPole: the
policy sees an attacked state, and the return measures what the attack costs). The perturbation
is one of :mod:`supervised.attacks`, computed on ``victim``, a network from observations to
logits: the agent's own (white box) or a proxy's (a transfer attack). Each attack raises the
loss of the victim's own greedy action on the clean observation, so it needs no labels and no
reward; ``attack="noise"`` is the random baseline of the same size. A targeted attack
(``target=``) instead lowers the loss of a chosen action (:func:`supervised.attacks.target_classes`:
a fixed one, the next one, or a random one each step) and counts how often the agent took it.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import torch
from torch import nn

from supervised.attacks import ATTACKS, PERTURBATIONS, check_eps, check_target, perturb, target_classes


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
    ``self.clean`` holds the last clean observation.

    With ``target`` (an action index, ``next`` or ``random``; fgsm | ifgsm | pgd only) the attack
    is targeted: each observation is pushed toward that action, ``self.target_action`` holds the
    last one, and :attr:`target_rate` is the fraction of steps on which the agent took it."""

    def __init__(
        self, env: gym.Env, victim: nn.Module, attack: str, eps: float, seed: int = 0, target: int | str | None = None
    ):
        super().__init__(env)
        if not isinstance(env.observation_space, gym.spaces.Box):
            raise ValueError(f"an adversarial observation needs Box observations, got {env.observation_space}")
        if attack not in PERTURBATIONS:
            raise ValueError(f"unknown attack {attack!r}; choose one of {', '.join(PERTURBATIONS)}")
        check_eps(eps)
        if target is not None:
            if attack not in ATTACKS:
                raise ValueError(f"a targeted attack is one of {', '.join(ATTACKS)}; {attack!r} has no target")
            if not isinstance(env.action_space, gym.spaces.Discrete):
                raise ValueError(f"a targeted attack needs discrete actions (classes), got {env.action_space}")
            check_target(target, int(env.action_space.n))
        self.victim, self.attack, self.eps, self.target = victim, attack, float(eps), target
        self.target_action: int | None = None
        self.target_hits, self.targeted_steps = 0, 0
        self.bounds = observation_bounds(env.observation_space)
        self.generator = torch.Generator().manual_seed(seed)  # the random start and the noise
        self.device = next(victim.parameters()).device
        self.clean: np.ndarray | None = None

    def observation(self, observation: np.ndarray) -> np.ndarray:
        """The perturbed observation, in the env's dtype."""
        self.clean = np.asarray(observation)
        x = torch.as_tensor(self.clean, dtype=torch.float32, device=self.device)[None]  # (1, *obs_shape)
        target = None
        if self.target is not None:
            target = target_classes(self.target, self.victim, x, self.generator)  # (1,)
            self.target_action = int(target[0])
        with torch.enable_grad():
            x_adv = perturb(self.attack, self.victim, x, self.eps, target, bounds=self.bounds,
                            generator=self.generator, targeted=target is not None)  # fmt: skip
        return x_adv[0].cpu().numpy().astype(self.clean.dtype)

    def step(self, action):
        """The env's step; a targeted attack first counts whether ``action`` is its target."""
        if self.target_action is not None:
            self.targeted_steps += 1
            self.target_hits += int(np.asarray(action).item() == self.target_action)
        return super().step(action)

    @property
    def target_rate(self) -> float:
        """Fraction of the steps so far on which the agent took the targeted attack's action."""
        return self.target_hits / max(self.targeted_steps, 1)
