"""Lecture: batch size (HW3's "Tips for training: batch and momentum").

Claim: with a tuned learning rate, small batches test at least as well as the full batch, and the
full batch ends in a sharper minimum: the same relative weight noise raises its training loss
more (Keskar et al. 2017, "On large-batch training ... sharp minima").

Arms (an MLP of 64 ReLU units on gymlab/Digits-v0, plain SGD, trained with the Supervised learner
through ``batch_size`` and ``learning_rate``, the last weights kept):

- ``batch 32``: 32 examples a step, ``SMALL_EPOCHS`` passes over the train split;
- ``full batch``: all 1,257 training examples a step (gradient descent), ``FULL_STEPS`` steps.

Each arm's learning rate is the one of ``LEARNING_RATES`` with the lowest validation loss (one
run per rate, every run a run directory under ``out/<arm>/lr<rate>``); the chosen run is then
scored on the test split, and its sharpness measured on the train split:

    sharpness = mean over draws of L_train(w + d) - L_train(w),  d_T ~ N(0, I) scaled so that
                |d_T| = NOISE * |w_T| for every weight tensor T

(noise relative to each tensor's size, so that both minima are perturbed alike whatever the scale
of their weights).

On --quick (seeds 0-2) both arms choose a learning rate of 1.0, the top of the grid (2.0 makes
full-batch descent diverge); the full batch stops at a training loss about 10x the small
batch's after its 400 steps, and the two test accuracies are equal on average (0.979), so "at
least as well" holds as a tie there; the sharpness differs by about 4x.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from agents.supervised import Supervised
from lectures.runner import Lecture, Panel, Table, Trial, register
from supervised import load_task
from supervised.kinds import cross_entropy_loss

TASK = "gymlab/Digits-v0"
SMALL_BATCH = 32
LEARNING_RATES = (0.1, 0.3, 1.0)
QUICK_LEARNING_RATES = (0.3, 1.0)
SMALL_EPOCHS, QUICK_SMALL_EPOCHS = 60, 40
FULL_STEPS, QUICK_FULL_STEPS = 600, 400
NOISE = 0.1
"""relative size of the weight perturbations: |d_T| / |w_T|"""
DRAWS = 20
SETTINGS = {"net": "mlp", "hidden": [64], "activation": "relu", "optimizer": "sgd", "lr_schedule": "constant",
            "patience": 0, "keep_best": False}  # fmt: skip


@torch.no_grad()
def train_loss(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """Mean cross-entropy of ``model`` on (N, ...) inputs and (N,) labels."""
    return float(cross_entropy_loss(model(x), y).mean())


@torch.no_grad()
def sharpness(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, noise: float, draws: int, seed: int):
    """Mean rise of the loss on (x, y) when every weight tensor T gets Gaussian noise of norm
    ``noise * |T|``, over ``draws`` draws; the weights are restored after each. Returns
    (mean rise, the loss at the weights)."""
    generator = torch.Generator().manual_seed(seed)
    base = train_loss(model, x, y)
    weights = [p.detach().clone() for p in model.parameters()]
    rises = []
    for _ in range(draws):
        for p, w in zip(model.parameters(), weights):
            direction = torch.randn(w.shape, generator=generator, dtype=w.dtype)
            p.copy_(w + noise * w.norm() / direction.norm() * direction)
        rises.append(train_loss(model, x, y) - base)
    for p, w in zip(model.parameters(), weights):
        p.copy_(w)
    return float(np.mean(rises)), base


def tuned_run(batch_size: int, epochs: int, rates, seed: int, out: Path) -> tuple[float, Supervised, list[str], dict]:
    """One run per learning rate; (the best rate by validation loss, its learner, the runs, val loss per rate)."""
    best, runs, val_losses = None, [], {}
    for rate in rates:
        agent = Supervised(TASK, seed=seed, batch_size=batch_size, epochs=epochs, learning_rate=rate, **SETTINGS)
        run_dir = out / f"lr{rate:g}"
        agent.learn(run_dir=run_dir)
        runs.append(str(run_dir))
        val_losses[rate] = agent.evaluate(split="val")["loss"]
        if best is None or val_losses[rate] < val_losses[best[0]]:
            best = (rate, agent)
    return best[0], best[1], runs, val_losses


def experiment(quick: bool, seed: int, out: Path) -> Trial:
    """One seed: each arm's learning rate tuned on val, then test accuracy and sharpness."""
    train = load_task("digits", "train")
    x, y = torch.tensor(train.x), torch.tensor(train.y)  # (N, 1, 8, 8), (N,)
    rates = QUICK_LEARNING_RATES if quick else LEARNING_RATES
    arms = {
        f"batch {SMALL_BATCH}": (SMALL_BATCH, QUICK_SMALL_EPOCHS if quick else SMALL_EPOCHS),
        "full batch": (len(train), QUICK_FULL_STEPS if quick else FULL_STEPS),  # one step per epoch
    }
    figures, runs, curves = {}, [], {}
    for arm, (batch_size, epochs) in arms.items():
        rate, agent, arm_runs, val_losses = tuned_run(batch_size, epochs, rates, seed, out / arm.replace(" ", "-"))
        runs += arm_runs
        test = agent.evaluate()
        rise, loss = sharpness(agent.model, x, y, NOISE, DRAWS, seed)
        figures[arm] = {"lr": rate, "steps": agent.num_timesteps / batch_size, "train_loss": loss,
                        "val_loss": val_losses[rate], "test_acc": test["accuracy"], "sharpness": rise}  # fmt: skip
        noises = np.linspace(0.0, 2 * NOISE, 5)
        curves[arm] = (noises, [sharpness(agent.model, x, y, n, DRAWS // 4, seed)[0] for n in noises])
    panels = [Panel("train-loss rise under relative weight noise", curves, "|noise| / |w| per tensor", "loss rise")]
    return Trial(figures, panels, runs)


def condition(table: Table) -> bool:
    """Means over seeds: the small batch's test accuracy >= the full batch's, and the full batch's
    sharpness >= 2x the small batch's."""
    small = f"batch {SMALL_BATCH}"
    return table.mean(small, "test_acc") >= table.mean("full batch", "test_acc") and table.mean(
        "full batch", "sharpness"
    ) >= 2 * table.mean(small, "sharpness")


LECTURE = register(
    Lecture(
        name="batch-size",
        homework="HW3 lectures: batch and momentum",
        claim="With a tuned learning rate, small batches test at least as well as the full batch, and the full "
        "batch's minimum is sharper: the same relative weight noise raises its training loss more.",
        arms=(f"batch {SMALL_BATCH}", "full batch"),
        experiment=experiment,
        condition=condition,
        condition_text="means: test accuracy of batch 32 >= full batch's; sharpness (train-loss rise under weight "
        f"noise of relative size {NOISE}) of the full batch >= 2x batch 32's",
    )
)
