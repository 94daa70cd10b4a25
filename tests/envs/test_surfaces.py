"""The error-surface env: known gradients and Hessians, the saddle of the lecture, the env API."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium.utils.env_checker import check_env

import envs
from envs.surfaces import ENV_ID, ErrorSurfaceEnv, gradient, hessian, surface_loss


def point(*values: float) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float64)


def test_the_lectures_saddle_has_zero_gradient_and_eigenvalues_plus_minus_two():
    # L = (1 - w1 w2)^2: dL/dw = -2 (1 - w1 w2) (w2, w1) = 0 at 0; H = [[2 w2^2, 4 w1 w2 - 2], ...] = [[0, -2], [-2, 0]]
    assert torch.equal(gradient("saddle", point(0, 0)), point(0, 0))
    torch.testing.assert_close(
        hessian("saddle", point(0, 0)), torch.tensor([[0.0, -2.0], [-2.0, 0.0]], dtype=torch.float64)
    )
    eigenvalues, eigenvectors = torch.linalg.eigh(hessian("saddle", point(0, 0)))
    torch.testing.assert_close(eigenvalues, point(-2, 2))
    down = 0.5 * eigenvectors[:, 0]  # along the negative eigenvector: w1 w2 = 1/8 > 0
    assert float(surface_loss("saddle", down)) == pytest.approx((1 - 0.125) ** 2)
    assert float(surface_loss("saddle", down)) < float(surface_loss("saddle", point(0, 0))) == 1.0


@pytest.mark.parametrize(
    ("surface", "theta", "grad", "hess"),
    [
        # at (1, 2): r = 1 - w1 w2 = -1; grad = -2 r (w2, w1) = (4, 2); H = [[2 w2^2, 4 w1 w2 - 2], [., 2 w1^2]]
        ("saddle", (1.0, 2.0), (4.0, 2.0), ((8.0, 6.0), (6.0, 2.0))),
        # (w1^2 + 100 w2^2) / 2
        ("quadratic", (0.5, -0.3), (0.5, -30.0), ((1.0, 0.0), (0.0, 100.0))),
        # (w1^2 - 1)^2 + 0.3 w1 + w2^2: grad = (4 w1 (w1^2 - 1) + 0.3, 2 w2), H = diag(12 w1^2 - 4, 2)
        ("bumpy", (2.0, 0.5), (24.3, 1.0), ((44.0, 0.0), (0.0, 2.0))),
    ],
)
def test_gradient_and_hessian_known_answers(surface, theta, grad, hess):
    torch.testing.assert_close(gradient(surface, point(*theta)), point(*grad))
    torch.testing.assert_close(hessian(surface, point(*theta)), torch.tensor(hess, dtype=torch.float64))


def test_bumpy_has_a_local_minimum_right_and_the_global_one_left():
    w1 = torch.linspace(-2, 2, 4001, dtype=torch.float64)
    loss = surface_loss("bumpy", torch.stack([w1, torch.zeros_like(w1)], -1))
    minima = [float(w1[i]) for i in range(1, len(w1) - 1) if loss[i] < loss[i - 1] and loss[i] < loss[i + 1]]
    assert minima == pytest.approx([-1.036, 0.961], abs=2e-3)
    assert float(surface_loss("bumpy", point(minima[0], 0))) < float(surface_loss("bumpy", point(minima[1], 0)))


def test_env_observes_theta_and_gradient_and_rewards_minus_loss():
    env = gym.make(ENV_ID, surface="saddle", max_step=2.0)
    obs, info = env.reset(seed=0, options={"theta": (1.0, 2.0)})
    np.testing.assert_allclose(obs, [1.0, 2.0, 4.0, 2.0])
    assert info["loss"] == 1.0
    obs, reward, terminated, truncated, info = env.step(np.array([-0.5, -1.5], dtype=np.float32))  # to (0.5, 0.5)
    np.testing.assert_allclose(obs[:2], [0.5, 0.5])
    assert reward == pytest.approx(-((1 - 0.25) ** 2)) and info["loss"] == pytest.approx(0.5625)
    assert not terminated and not truncated
    obs, *_ = env.step(np.array([10.0, 0.0]))  # clipped to max_step
    assert obs[0] == pytest.approx(2.5)


def test_a_step_along_the_negative_eigenvector_from_the_saddle_raises_the_reward():
    env = gym.make(ENV_ID, surface="saddle")
    env.reset(options={"theta": (0.0, 0.0)})
    _, reward, *_ = env.step(np.array([0.5, 0.5]) / np.sqrt(2))
    assert reward > -1.0


def test_seeded_starts_repeat_and_stay_in_the_noise_box():
    env = ErrorSurfaceEnv("quadratic", start_noise=0.5)
    first = env.reset(seed=3)[0]
    assert np.array_equal(first, env.reset(seed=3)[0])
    assert np.all(np.abs(first[:2] - 1.0) <= 0.5) and not np.array_equal(first, env.reset(seed=4)[0])


@pytest.mark.filterwarnings("ignore:.*Box observation space m.*infinity")
def test_passes_gymnasiums_env_checker_and_has_a_time_limit():
    check_env(ErrorSurfaceEnv("bumpy"), skip_render_check=True)
    env = gym.make(ENV_ID)
    env.reset(seed=0)
    for _ in range(envs.surfaces.MAX_EPISODE_STEPS - 1):
        assert not env.step(np.zeros(2))[3]
    assert env.step(np.zeros(2))[3]


def test_render_draws_the_path_over_the_contours():
    env = gym.make(ENV_ID, surface="bumpy", render_mode="rgb_array")
    env.reset(seed=0)
    env.step(np.array([-0.5, 0.0]))
    frame = env.render()
    assert frame.dtype == np.uint8 and frame.ndim == 3 and frame.shape[2] == 3
    red = (frame[..., 0] > 200) & (frame[..., 1] < 60) & (frame[..., 2] < 60)
    assert red.sum() > 20  # the path is drawn in red


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"surface": "ridge"}, "unknown surface 'ridge'"), ({"condition": 0.5}, "condition must be >= 1"),
     ({"max_step": 0}, "max_step must be > 0"), ({"start": (1.0,)}, "start must be two numbers")],
)  # fmt: skip
def test_bad_kwargs_are_one_line_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        envs.make_env(ENV_ID, **kwargs)


def test_gradient_and_hessian_work_inside_an_agents_inference_mode_rollout():
    with torch.inference_mode():
        assert torch.equal(gradient("quadratic", point(1, 1)), point(1, 100))
        torch.testing.assert_close(hessian("saddle", point(0, 0))[0, 1], torch.tensor(-2.0, dtype=torch.float64))
        obs, _ = ErrorSurfaceEnv("bumpy").reset(seed=0)
    assert obs[2] == pytest.approx(24.3)
