"""Lecture: optimizers (HW3's "Tips for training: adaptive learning rate" and "batch and momentum").

Claim: on an ill-conditioned quadratic (kappa = 100) plain gradient descent needs at least 10x
the steps it needs after the features are standardised, and Adam needs at most 1/5 of GD's;
momentum rolls past a 1-D local minimum where GD stops.

Arms (each optimizer from agents.optim, at its best learning rate from one grid, walking the
error-surface env of envs.surfaces):

- ``GD kappa=100``: L = (w1^2 + 100 w2^2) / 2, the loss of a linear model whose second feature
  is 10x larger than the first;
- ``GD standardised``: the same model after standardising the features (u = (w1, 10 w2)),
  L = (u1^2 + u2^2) / 2, from the same starting model;
- ``Adam kappa=100``, ``RAdam kappa=100``, ``Adam+inv_sqrt kappa=100``: adaptive learning rates
  (the last with the course's eta / sqrt(t + 1) schedule);
- ``GD bumpy`` and ``momentum bumpy``: the tilted double well L = (w1^2 - 1)^2 + 0.3 w1 + w2^2,
  from w1 ~ 2 (the local minimum at w1 ~ 0.96 lies between the start and the global one at
  w1 ~ -1.04), both with learning rate 0.01.

Figures: ``steps`` to bring L below 1e-4 of its start; on the bumpy surface the final ``w1`` and
``global`` (1 when the walk ended in the global minimum's basin, w1 < 0).
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

import numpy as np

from envs.surfaces import draw_surface
from lectures.descent import walk
from lectures.runner import Lecture, Panel, Table, Trial, register

KAPPA = 100.0
TOLERANCE = 1e-4
LEARNING_RATES = (0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0)
QUICK_LEARNING_RATES = (0.003, 0.01, 0.03, 0.1, 0.3, 1.0)
START_NOISE = 0.5  # the quadratic's start is uniform in [0.5, 1.5]^2
BUMPY_LR = 0.01
BUMPY_START_NOISE = 0.2
ADAPTIVE = {"Adam kappa=100": ("adam", "constant"), "RAdam kappa=100": ("radam", "constant"),
            "Adam+inv_sqrt kappa=100": ("adam", "inv_sqrt")}  # fmt: skip


def best_steps(optimizer: str, max_steps: int, seed: int, rates, **surface) -> tuple[int, float, object]:
    """Fewest steps to the tolerance over the learning-rate grid: (steps, lr, walk); steps is
    ``max_steps`` when no rate got there."""
    best = (max_steps, float("nan"), None)
    for lr in rates:
        result = walk(optimizer=optimizer, lr=lr, steps=max_steps, seed=seed, stop_below=TOLERANCE, **surface)
        steps = result.steps_to(TOLERANCE)
        if steps is not None and steps < best[0] or best[2] is None:
            best = (steps if steps is not None else max_steps, lr, result)
    return best


def experiment(quick: bool, seed: int, out: Path) -> Trial:
    """One seed: every arm on the quadratic from one random start, then the bumpy surface."""
    rates = QUICK_LEARNING_RATES if quick else LEARNING_RATES
    max_steps = 1500 if quick else 5000
    ill = dict(surface="quadratic", condition=KAPPA, start_noise=START_NOISE)
    figures, curves = {}, {}
    steps, lr, gd = best_steps("sgd", max_steps, seed, rates, **ill)
    figures["GD kappa=100"] = {"steps": steps, "lr": lr}
    curves["GD kappa=100"] = gd
    w1, w2 = gd.path[0]
    standardised = dict(surface="quadratic", condition=1.0, theta=(w1, np.sqrt(KAPPA) * w2))
    steps, lr, result = best_steps("sgd", max_steps, seed, rates, **standardised)
    figures["GD standardised"] = {"steps": steps, "lr": lr}
    curves["GD standardised"] = result
    for arm, (optimizer, lr_schedule) in ADAPTIVE.items():
        steps, lr, result = best_steps(optimizer, max_steps, seed, rates, lr_schedule=lr_schedule, **ill)
        figures[arm] = {"steps": steps, "lr": lr}
        curves[arm] = result
    paths = {}
    for arm, optimizer in (("GD bumpy", "sgd"), ("momentum bumpy", "momentum")):
        result = walk("bumpy", optimizer, BUMPY_LR, 300 if quick else 1000, seed=seed, start_noise=BUMPY_START_NOISE)
        final_w1 = float(result.path[-1, 0])
        figures[arm] = {"w1": final_w1, "global": float(final_w1 < 0), "loss": float(result.losses[-1])}
        paths[arm] = result.path
    panels = [
        Panel(
            "quadratic, kappa=100: loss / start (best lr each)",
            {arm: (np.arange(len(w.losses)), w.losses / w.losses[0]) for arm, w in curves.items()},
            ylabel="L / L(start)",
            log_y=True,
        ),  # fmt: skip
        Panel(
            "bumpy: GD stops, momentum rolls on",
            {arm: (p[:, 0], p[:, 1]) for arm, p in paths.items()},
            xlabel="w1",
            ylabel="w2",
            surface=partial(draw_surface, surface="bumpy"),
        ),  # fmt: skip
    ]
    return Trial(figures, panels)


def condition(table: Table) -> bool:
    """GD >= 10x standardised GD's steps, Adam <= 1/5 of GD's (means over seeds); momentum ends
    in the global basin and GD does not, on every seed."""
    gd = table.mean("GD kappa=100", "steps")
    return (
        gd >= 10 * table.mean("GD standardised", "steps")
        and table.mean("Adam kappa=100", "steps") <= gd / 5
        and min(table.values["momentum bumpy"]["global"]) == 1.0
        and max(table.values["GD bumpy"]["global"]) == 0.0
    )


LECTURE = register(
    Lecture(
        name="optimizers",
        homework="HW3 lectures: adaptive learning rate, batch and momentum",
        claim="On an ill-conditioned quadratic (kappa=100) GD needs >= 10x the steps it needs after standardising "
        "features and Adam <= 1/5 of GD's; momentum rolls past a local minimum where GD stops.",
        arms=("GD kappa=100", "GD standardised", *ADAPTIVE, "GD bumpy", "momentum bumpy"),
        experiment=experiment,
        condition=condition,
        condition_text="mean steps to L <= 1e-4 L(start): GD >= 10 x GD standardised and Adam <= GD / 5; "
        "momentum ends at w1 < 0 (global basin) and GD at w1 > 0 on every seed",
    )
)
