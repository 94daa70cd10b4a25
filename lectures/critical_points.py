"""Lecture: critical points (HW2's "When gradient is small: local minimum and saddle point").

Claim: for the lecture's network y_hat = w1 w2 x at x = y_hat = 1, theta = 0 is a critical point
(gradient 0) that is a saddle, not a minimum: the Hessian has eigenvalues +2 and -2, and a step
along the eigenvector of -2 lowers the loss, where gradient descent started next to the saddle
barely moves.

Arms (all on the error-surface env of envs.surfaces, ``surface=saddle``):

- ``theta=0``: the gradient's norm and the Hessian's eigenvalues there (autograd), and L;
- ``eigen step``: L at theta = eta u, u the unit eigenvector of the negative eigenvalue
  (the lecture's L(theta') ~ L(theta) + 1/2 (eta u)^T H (eta u) = L - eta^2);
- ``GD near saddle``: gradient descent from a point 1e-3 from the saddle (seeded);
- ``eigen step + GD``: the same point, one step along u first, then gradient descent.

Figures of the two walks: L after ``COMPARE_AT`` steps, and the steps until L < 0.01 (GD does
leave the saddle in the end -- it is unstable -- but only once its tiny offset has grown).
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

import numpy as np
import torch

from envs.surfaces import draw_surface, gradient, hessian, surface_loss
from lectures.descent import walk
from lectures.runner import Lecture, Panel, Table, Trial, register

ETA = 0.5
"""length of the step along the negative eigenvector"""
LR = 0.1
"""gradient descent's learning rate"""
NEAR = 1e-3
"""half-width of the box around the saddle that GD starts from"""
COMPARE_AT = 30
"""the step at which the two walks' losses are compared"""
LOW = 0.01
"""the loss that counts as having left the saddle's plateau"""


def experiment(quick: bool, seed: int, out: Path) -> Trial:
    """One seed: the figures at the saddle, then two walks from a random point next to it."""
    steps = 100 if quick else 300
    origin = torch.zeros(2, dtype=torch.float64)
    grad = gradient("saddle", origin)
    eigenvalues, eigenvectors = torch.linalg.eigh(hessian("saddle", origin))  # ascending
    escape = ETA * eigenvectors[:, 0]  # along the eigenvector of the negative eigenvalue
    figures = {
        "theta=0": {"grad_norm": float(grad.norm()), "lambda_min": float(eigenvalues[0]),
                    "lambda_max": float(eigenvalues[1]), "loss": float(surface_loss("saddle", origin))},
        "eigen step": {"loss": float(surface_loss("saddle", escape))},
    }  # fmt: skip
    gd = walk("saddle", "sgd", LR, steps, seed=seed, start_noise=NEAR)
    start = gd.path[0]
    direction = np.sign(escape.numpy() @ start) or 1.0  # the side of the saddle the start is on
    after = walk("saddle", "sgd", LR, steps, theta=tuple(start + direction * escape.numpy()))
    walks = {"GD near saddle": gd, "eigen step + GD": after}
    for arm, result in walks.items():
        below = np.flatnonzero(result.losses < LOW)
        figures[arm] = {
            f"loss_at_{COMPARE_AT}": float(result.losses[COMPARE_AT]),
            f"steps_to_{LOW:g}": int(below[0]) if len(below) else steps,
        }
    panels = [
        Panel(
            "paths on L = (1 - w1 w2)^2",
            {arm: (w.path[:, 0], w.path[:, 1]) for arm, w in walks.items()},
            xlabel="w1",
            ylabel="w2",
            surface=partial(draw_surface, surface="saddle"),
        ),  # fmt: skip
        Panel("loss per step", {arm: (np.arange(len(w.losses)), w.losses) for arm, w in walks.items()}, log_y=True),
    ]
    return Trial(figures, panels)


def condition(table: Table) -> bool:
    """Gradient 0 and eigenvalues -2, +2 at the saddle; the eigen step lowers L; after
    COMPARE_AT steps from next to the saddle GD is still above 0.5 where the eigen step then GD
    is below 0.01, and GD needs at least 3x the steps to get below 0.01 (means)."""
    return (
        table.mean("theta=0", "grad_norm") < 1e-12
        and abs(table.mean("theta=0", "lambda_min") + 2) < 1e-9
        and abs(table.mean("theta=0", "lambda_max") - 2) < 1e-9
        and table.mean("eigen step", "loss") < table.mean("theta=0", "loss")
        and table.mean("GD near saddle", f"loss_at_{COMPARE_AT}") > 0.5
        and table.mean("eigen step + GD", f"loss_at_{COMPARE_AT}") < LOW
        and table.mean("GD near saddle", f"steps_to_{LOW:g}") >= 3 * table.mean("eigen step + GD", f"steps_to_{LOW:g}")
    )


LECTURE = register(
    Lecture(
        name="critical-points",
        homework="HW2 lecture: when gradient is small (local minimum and saddle point)",
        claim="For y = w1 w2 x at x = y = 1, theta = 0 has gradient 0 and Hessian eigenvalues +-2: a saddle, "
        "and a step along the negative eigenvector lowers the loss where GD next to it stalls.",
        arms=("theta=0", "eigen step", "GD near saddle", "eigen step + GD"),
        experiment=experiment,
        condition=condition,
        condition_text="|grad| < 1e-12 and eigenvalues -2, +2 (1e-9) at theta=0; L(eta u) < L(0); after 30 steps "
        "from 1e-3 away GD has L > 0.5 and the eigen step then GD L < 0.01; GD needs >= 3x the steps to L < 0.01",
    )
)
