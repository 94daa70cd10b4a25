"""An optimizer from :mod:`agents.optim` walking an error-surface env (:mod:`envs.surfaces`).

The optimizer is the agent: it reads the gradient from the observation, takes its step on a
copy of theta, and acts with the difference; the env moves theta and answers with -L. Lectures
that compare optimizers on a surface share this walk.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from agents.optim import make_optimizer, schedule, set_lr
from envs.make import make_env
from envs.surfaces import ENV_ID


@dataclass
class Walk:
    """The points visited and the loss at each (the start included)."""

    path: np.ndarray
    """(K + 1, 2) theta after 0, 1, ..., K steps"""
    losses: np.ndarray
    """(K + 1,) L at those points"""

    def steps_to(self, tolerance: float) -> int | None:
        """The first step at which L <= ``tolerance`` * L(start); None if never."""
        below = np.flatnonzero(self.losses <= tolerance * self.losses[0])
        return int(below[0]) if len(below) else None


def walk(
    surface: str,
    optimizer: str,
    lr: float,
    steps: int,
    seed: int = 0,
    theta: tuple[float, float] | None = None,
    condition: float = 100.0,
    start_noise: float = 0.0,
    lr_schedule: str = "constant",
    momentum: float = 0.9,
    stop_below: float = 0.0,
) -> Walk:
    """Let ``optimizer`` (a name of :func:`agents.optim.make_optimizer`) walk ``steps`` steps on
    ``surface``, from ``theta`` when given, else from the surface's start plus seeded noise.

    The walk ends early once L <= ``stop_below`` * L(start), or once it diverges (L beyond
    1e6 * L(start)): the steps after either would add nothing to a steps-to-tolerance count."""
    env = make_env(
        ENV_ID, surface=surface, condition=condition, start_noise=start_noise, max_step=1e6, max_episode_steps=steps
    )
    obs, info = env.reset(seed=seed, options=None if theta is None else {"theta": theta})
    weights = nn.Parameter(torch.tensor(obs[:2]))  # the optimizer's copy of theta
    optim = make_optimizer([weights], optimizer, lr, momentum=momentum)
    multiplier = schedule(lr_schedule, updates=steps)
    path, losses = [obs[:2].astype(np.float64)], [info["loss"]]
    for t in range(steps):
        set_lr(optim, lr * multiplier(t / steps))
        weights.grad = torch.tensor(obs[2:])
        before = weights.detach().clone()
        optim.step()
        obs, _reward, terminated, _truncated, info = env.step((weights.detach() - before).numpy())
        path.append(obs[:2].astype(np.float64))
        losses.append(info["loss"])
        if terminated or info["loss"] > 1e6 * losses[0] or info["loss"] <= stop_below * losses[0]:
            break
    env.close()
    return Walk(np.array(path), np.array(losses))
