"""Error surfaces as environments: the optimiser is the agent, a step of gradient descent an action.

The lecture "When gradient is small" (ML2021, critical points) and the optimizer lectures draw a
loss L(theta) over two parameters and an optimiser walking on it. Here that picture is an env:

- observation: ``[theta_1, theta_2, dL/dtheta_1, dL/dtheta_2]`` (float32, shape (4,));
- action: the step ``delta theta`` (shape (2,), clipped to ``[-max_step, max_step]``);
- reward: ``-L(theta + delta theta)``; episodes end by time limit (``max_episode_steps``).

Surfaces (``surface=`` env kwarg):

| surface   | L(theta)                                  | what it shows                                      |
|-----------|-------------------------------------------|----------------------------------------------------|
| saddle    | (y - w1 w2 x)^2, x = y = 1                | the lecture's network: theta = 0 is a saddle point |
| quadratic | (theta_1^2 + condition * theta_2^2) / 2   | ill conditioning (condition = kappa, default 100)  |
| bumpy     | (w1^2 - 1)^2 + 0.3 w1 + w2^2              | a local minimum at w1 ~ 0.96, the global at ~ -1.04 |

The losses are torch functions, so :func:`gradient` and :func:`hessian` are autograd's.
"""

from __future__ import annotations

import math
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from gymnasium import spaces

SURFACES: tuple[str, ...] = ("saddle", "quadratic", "bumpy")
"""Values of the ``surface`` env kwarg."""

ENV_ID = "gymlab/ErrorSurface-v0"
"""The registered gymnasium id."""

MAX_EPISODE_STEPS = 200
"""Default episode length of the registered id."""

STARTS: dict[str, tuple[float, float]] = {"saddle": (0.0, 0.0), "quadratic": (1.0, 1.0), "bumpy": (2.0, 0.0)}
"""Default starting point of each surface (before ``start_noise``)."""

SADDLE_X = 1.0
SADDLE_Y = 1.0
BUMPY_TILT = 0.3  # tilts the double well so that the left minimum is the global one


def surface_loss(surface: str, theta: torch.Tensor, condition: float = 100.0) -> torch.Tensor:
    """L(theta) for ``theta`` of shape (..., 2); returns shape (...)."""
    w1, w2 = theta[..., 0], theta[..., 1]
    if surface == "saddle":  # the lecture's network y_hat = w1 * w2 * x, squared error at x = y = 1
        return (SADDLE_Y - w1 * w2 * SADDLE_X) ** 2
    if surface == "quadratic":
        return 0.5 * (w1**2 + condition * w2**2)
    if surface == "bumpy":
        return (w1**2 - 1) ** 2 + BUMPY_TILT * w1 + w2**2
    raise ValueError(f"unknown surface {surface!r}; choose one of {', '.join(SURFACES)}")


def gradient(surface: str, theta: torch.Tensor, condition: float = 100.0) -> torch.Tensor:
    """dL/dtheta at one point ``theta`` (2,), by autograd (also when called under no_grad or
    inference mode, as an agent's rollout steps its envs)."""
    with torch.inference_mode(False), torch.enable_grad():
        theta = theta.detach().clone().requires_grad_(True)
        (grad,) = torch.autograd.grad(surface_loss(surface, theta, condition), theta)
    return grad


def hessian(surface: str, theta: torch.Tensor, condition: float = 100.0) -> torch.Tensor:
    """The (2, 2) Hessian of L at ``theta``, by autograd (under no_grad or inference mode too)."""
    with torch.inference_mode(False), torch.enable_grad():
        return torch.autograd.functional.hessian(lambda t: surface_loss(surface, t, condition), theta.detach().clone())


def check_surface(surface: str, condition: float) -> None:
    """Raise a one-line ValueError for an unknown surface or a condition number below 1."""
    if surface not in SURFACES:
        raise ValueError(f"unknown surface {surface!r}; choose one of {', '.join(SURFACES)}")
    if not condition >= 1.0:
        raise ValueError(
            f"condition must be >= 1 (the ratio of the largest to the smallest curvature), got {condition}"
        )


class ErrorSurfaceEnv(gym.Env):
    """Walk on an error surface: observe theta and the gradient, act with a step, reward = -loss."""

    metadata: dict[str, Any] = {"render_modes": ["rgb_array"], "render_fps": 10}

    def __init__(
        self,
        surface: str = "saddle",
        condition: float = 100.0,
        start: tuple[float, float] | None = None,
        start_noise: float = 0.0,
        max_step: float = 1.0,
        render_mode: str | None = None,
    ):
        check_surface(surface, condition)
        if not max_step > 0:
            raise ValueError(f"max_step must be > 0, got {max_step}")
        if render_mode not in (None, "rgb_array"):
            raise ValueError(f"render_mode must be None or 'rgb_array', got {render_mode!r}")
        self.surface = surface
        self.condition = float(condition)
        self.start = np.asarray(STARTS[surface] if start is None else start, dtype=np.float64)
        if self.start.shape != (2,):
            raise ValueError(f"start must be two numbers (theta_1, theta_2), got {start!r}")
        self.start_noise = float(start_noise)
        self.render_mode = render_mode
        self.observation_space = spaces.Box(-np.inf, np.inf, shape=(4,), dtype=np.float32)
        self.action_space = spaces.Box(-max_step, max_step, shape=(2,), dtype=np.float32)
        self.theta = self.start.copy()
        self.path: list[np.ndarray] = []

    def loss(self, theta: np.ndarray | None = None) -> float:
        """L at ``theta`` (default: the current point)."""
        theta = self.theta if theta is None else theta
        return float(surface_loss(self.surface, torch.as_tensor(theta, dtype=torch.float64), self.condition))

    def _observation(self) -> np.ndarray:
        grad = gradient(self.surface, torch.as_tensor(self.theta, dtype=torch.float64), self.condition)
        return np.concatenate([self.theta, grad.numpy()]).astype(np.float32)

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        """Start at ``options["theta"]`` when given, else at ``start`` plus uniform noise of
        half-width ``start_noise`` (drawn from the env's seeded generator)."""
        super().reset(seed=seed)
        if options and "theta" in options:
            self.theta = np.asarray(options["theta"], dtype=np.float64).reshape(2).copy()
        else:
            self.theta = self.start + self.np_random.uniform(-self.start_noise, self.start_noise, size=2)
        self.path = [self.theta.copy()]
        return self._observation(), {"loss": self.loss()}

    def step(self, action):
        """Move by the (clipped) step; reward is -L at the new point."""
        step = np.clip(np.asarray(action, dtype=np.float64).reshape(2), self.action_space.low, self.action_space.high)
        self.theta = self.theta + step
        self.path.append(self.theta.copy())
        loss = self.loss()
        if not math.isfinite(loss):  # diverged: stop the episode rather than return inf forever
            return self._observation(), -1e12, True, False, {"loss": loss, "diverged": True}
        return self._observation(), -loss, False, False, {"loss": loss}

    def render(self) -> np.ndarray | None:
        """The surface's contours with the path walked so far, (H, W, 3) uint8."""
        if self.render_mode != "rgb_array":
            return None
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        path = np.array(self.path)
        figure = Figure(figsize=(4, 4), dpi=80)
        axes = figure.add_subplot()
        draw_surface(axes, self.surface, self.condition, path)
        figure.tight_layout()
        canvas = FigureCanvasAgg(figure)
        canvas.draw()
        return np.asarray(canvas.buffer_rgba())[..., :3].copy()


def surface_grid(
    surface: str,
    condition: float = 100.0,
    extent: tuple[float, float, float, float] = (-2.0, 2.0, -2.0, 2.0),
    n: int = 121,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(W1, W2, L)`` on an ``n`` x ``n`` grid over ``extent`` = (w1_min, w1_max, w2_min, w2_max)."""
    w1, w2 = np.meshgrid(np.linspace(extent[0], extent[1], n), np.linspace(extent[2], extent[3], n))
    grid = torch.as_tensor(np.stack([w1, w2], axis=-1))  # (n, n, 2)
    return w1, w2, surface_loss(surface, grid, condition).numpy()


def draw_surface(axes, surface: str, condition: float = 100.0, path: np.ndarray | None = None) -> None:
    """Contours of ``surface`` on matplotlib ``axes``, with an optional path (K, 2) drawn over them."""
    extent = [-2.0, 2.0, -2.0, 2.0]
    if path is not None and len(path):
        extent = [min(extent[0], path[:, 0].min() - 0.2), max(extent[1], path[:, 0].max() + 0.2),
                  min(extent[2], path[:, 1].min() - 0.2), max(extent[3], path[:, 1].max() + 0.2)]  # fmt: skip
    w1, w2, loss = surface_grid(surface, condition, tuple(extent))
    levels = np.quantile(loss, np.linspace(0.0, 0.95, 20))
    axes.contour(w1, w2, loss, levels=np.unique(levels), cmap="viridis", linewidths=0.8)
    if path is not None and len(path):
        axes.plot(path[:, 0], path[:, 1], "r.-", markersize=3, linewidth=1)
        axes.plot(path[-1, 0], path[-1, 1], "ro")
    axes.set_xlabel("w1")
    axes.set_ylabel("w2")
    axes.set_title(surface)


def register_surfaces() -> None:
    """Register ``gymlab/ErrorSurface-v0`` (safe to call twice)."""
    if ENV_ID not in gym.envs.registry:
        gym.register(ENV_ID, entry_point="envs.surfaces:ErrorSurfaceEnv", max_episode_steps=MAX_EPISODE_STEPS)
