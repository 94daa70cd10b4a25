"""Lecture: regression (HW1, and lecture 1's model: y = b + sum_i c_i sigmoid(b_i + w_i x)).

Claim: a model with more pieces fits better, until it overfits. On lecture 1's curve (the
``piecewise`` task: three sigmoids plus noise of variance 0.01, 1,400 training points) more
sigmoids lower both the training and the validation error: the one-sigmoid model's error is
model bias, over 10x that of 30 sigmoids. On Diabetes (309 training rows, 10 features) more
capacity keeps lowering the training error while the validation error rises: overfitting.

Arms, each a run of the supervised learner trained to its last epoch (``keep_best=false``, so
the validation split only measures, it does not choose the weights):

- ``piecewise K sigmoids``: one hidden layer of K tanh units (tanh is a rescaled sigmoid:
  c tanh(w x + b) = 2c sigmoid(2w x + 2b) - c, so this is lecture 1's model with K sigmoids);
- ``diabetes linear``, ``diabetes MLP 16``, ``diabetes MLP 256-256``: linear regression, then
  ReLU networks with one hidden layer of 16 units and two of 256.

Figures: mean squared error on the train, val and test splits (Diabetes in standardised units:
1.0 is the error of predicting the mean).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from lectures.runner import Lecture, Panel, Table, Trial, register
from lectures.supervised_runs import split_scores, train_run
from supervised.tasks import PIECEWISE_NOISE, piecewise_curve

SIGMOIDS = (1, 2, 4, 30)
"""hidden units of the piecewise arms"""
DIABETES = {"diabetes linear": [], "diabetes MLP 16": [16], "diabetes MLP 256-256": [256, 256]}
"""diabetes arm -> hidden layer sizes"""
PIECEWISE_SETTINGS = {"activation": "tanh", "learning_rate": 0.02, "lr_schedule": "cosine", "batch_size": 128}
DIABETES_SETTINGS = {"activation": "relu", "learning_rate": 3e-3, "lr_schedule": "constant", "batch_size": 32,
                     "weight_decay": 0.0}  # fmt: skip
COMMON = {"net": "mlp", "patience": 0, "keep_best": False}


def piecewise_arm(k: int) -> str:
    """The arm's name for ``k`` sigmoids."""
    return f"piecewise {k} sigmoid{'s' if k > 1 else ''}"


def experiment(quick: bool, seed: int, out: Path) -> Trial:
    """One seed: every piecewise arm, then every diabetes arm, each a run under ``out``."""
    figures, runs, fits = {}, [], {}
    grid = np.linspace(-4.0, 4.0, 200, dtype=np.float32)  # (200,)
    for k in SIGMOIDS:
        arm = piecewise_arm(k)
        run_dir = out / arm.replace(" ", "-")
        agent = train_run("gymlab/Piecewise-v0", seed, run_dir, hidden=[k], epochs=40 if quick else 100,
                          **PIECEWISE_SETTINGS, **COMMON)  # fmt: skip
        figures[arm] = split_scores(agent)
        with torch.no_grad():
            fits[arm.removeprefix("piecewise ")] = (
                grid,
                agent.model(torch.from_numpy(grid)[:, None]).reshape(-1).numpy(),
            )
        runs.append(str(run_dir))
    fits["lecture 1's curve"] = (grid, piecewise_curve(grid))
    for arm, hidden in DIABETES.items():
        run_dir = out / arm.replace(" ", "-")
        agent = train_run("gymlab/Diabetes-v0", seed, run_dir, hidden=hidden, epochs=150 if quick else 300,
                          **DIABETES_SETTINGS, **COMMON)  # fmt: skip
        figures[arm] = split_scores(agent)
        runs.append(str(run_dir))
    capacity = np.arange(len(DIABETES))
    panels = [
        Panel("piecewise: fits after training", fits, "x", "y"),
        Panel(
            "piecewise: error by sigmoids",
            {
                split: (np.array(SIGMOIDS), [figures[piecewise_arm(k)][f"{split}_mse"] for k in SIGMOIDS])
                for split in ("train", "val")
            },
            "sigmoids",
            "mse",
            log_y=True,
        ),  # fmt: skip
        Panel(
            "diabetes: linear, 16, 256-256",
            {split: (capacity, [figures[arm][f"{split}_mse"] for arm in DIABETES]) for split in ("train", "val")},
            "capacity",
            "mse (standardised)",
        ),  # fmt: skip
    ]
    return Trial(figures, panels, runs)


def condition(table: Table) -> bool:
    """Means over seeds. Piecewise: train and val error fall with every step up in sigmoids, and
    1 sigmoid's val error is over 10x that of 30. Diabetes: train error falls with every step up
    in capacity, and the largest network's val error is above the linear model's."""
    piecewise = [piecewise_arm(k) for k in SIGMOIDS]
    diabetes = list(DIABETES)

    def falls(arms: list[str], figure: str) -> bool:
        values = [table.mean(arm, figure) for arm in arms]
        return all(later < earlier for earlier, later in zip(values, values[1:]))

    return (
        falls(piecewise, "train_mse")
        and falls(piecewise, "val_mse")
        and table.mean(piecewise[0], "val_mse") > 10 * table.mean(piecewise[-1], "val_mse")
        and falls(diabetes, "train_mse")
        and table.mean(diabetes[-1], "val_mse") > table.mean(diabetes[0], "val_mse")
    )


LECTURE = register(
    Lecture(
        name="regression",
        homework="HW1: regression (lecture 1's sum of sigmoids; model bias and overfitting)",
        claim="More sigmoids fit lecture 1's curve better on train and validation data (1 sigmoid's error is "
        f"model bias, > 10x that of 30; noise variance {PIECEWISE_NOISE**2:g}); on Diabetes more capacity lowers "
        "the training error while the validation error rises: overfitting.",
        arms=(*(piecewise_arm(k) for k in SIGMOIDS), *DIABETES),
        experiment=experiment,
        condition=condition,
        condition_text="means: piecewise train and val MSE fall from 1 to 2 to 4 to 30 sigmoids, val MSE(1) > "
        "10 x val MSE(30); diabetes train MSE falls from linear to MLP 16 to MLP 256-256, and MLP 256-256's "
        "val MSE is above the linear model's",
    )
)
