"""Lecture: classification losses (HW2's "Classification": why cross-entropy, not MSE, after softmax).

Claim: at confidently wrong logits, cross-entropy's gradient (with respect to the logits) has
norm ~ 1.4 (sqrt 2) while mean squared error after softmax has one below 1e-3: the MSE surface
is flat far from the answer, so SGD from large initial logits stays stuck with MSE and learns
with cross-entropy.

Arms: ``cross-entropy`` (envs.single_step's loss, the one the supervised learner trains with)
and ``MSE after softmax`` (sum over classes of (softmax(z) - one_hot(y))^2, as on the slide).

Experiment, per seed:

1. Confidently wrong logits: 10 classes, small random logits, plus ``GAP`` on one wrong class;
   the gradient norm of each loss there (autograd).
2. Training from large initial logits: the supervised learner (``agents.Supervised``) as a linear
   classifier (``net=mlp hidden=[]``) on gymlab's digits, its output bias set to ``GAP`` on one
   class before training, so every example starts out confidently predicted as that class; the
   same SGD (batch 64, learning rate 1) for both arms, ``loss=task`` (cross-entropy) and
   ``loss=softmax_mse``, each trained into a run directory. Figures: test accuracy, the train
   split's mean gradient norm w.r.t. the logits before training, and the validation accuracy and
   the weight's gradient norm (``grad_norm/layer0``) per epoch.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from agents.logger import read_scalars
from agents.supervised import Supervised
from lectures.runner import Lecture, Panel, Table, Trial, register
from supervised.kinds import cross_entropy_loss, softmax_squared_error

ENV_ID = "gymlab/Digits-v0"
GAP = 12.0
"""how far the wrong class's logit stands above the others"""
N_CLASSES = 10
SETTINGS = {
    "net": "mlp", "hidden": [], "optimizer": "sgd", "learning_rate": 1.0, "batch_size": 64, "patience": 0,
    "keep_best": False, "max_grad_norm": 0.0, "log_interval": 1,
}  # fmt: skip
"""a linear classifier trained by plain SGD, the last weights kept"""

LOSSES = {"cross-entropy": cross_entropy_loss, "MSE after softmax": softmax_squared_error}
SETTING = {"cross-entropy": "task", "MSE after softmax": "softmax_mse"}
"""each arm's ``loss=`` setting of the supervised learner"""


def logit_gradient_norms(loss_fn, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """The norm of d loss / d logits for each example: (B, C), (B,) -> (B,)."""
    logits = logits.detach().requires_grad_(True)
    (grad,) = torch.autograd.grad(loss_fn(logits, target).sum(), logits)  # (B, C): example b's loss only
    return grad.norm(dim=-1)


def confidently_wrong(generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """One example's logits (1, C) with ``GAP`` on a wrong class, and its true class (1,)."""
    target = torch.randint(N_CLASSES, (1,), generator=generator)
    wrong = (target + torch.randint(1, N_CLASSES, (1,), generator=generator)) % N_CLASSES
    logits = 0.1 * torch.randn(1, N_CLASSES, generator=generator, dtype=torch.float64)
    logits[0, wrong] += GAP
    return logits, target


def train(arm: str, seed: int, epochs: int, run_dir: Path) -> dict:
    """The supervised learner with ``arm``'s loss, from a bias of GAP on one class, trained into
    ``run_dir``: its test accuracy, the mean logit-gradient norm on train before training, and
    per epoch the validation accuracy and the weight's gradient norm."""
    agent = Supervised(ENV_ID, seed=seed, device="cpu", preset=False, epochs=epochs, loss=SETTING[arm], **SETTINGS)
    output_layer = [m for m in agent.model.modules() if isinstance(m, nn.Linear)][-1]
    with torch.no_grad():
        output_layer.bias.zero_()
        output_layer.bias[seed % N_CLASSES] = GAP  # every example starts confidently "seed % 10"
        x, y = torch.tensor(agent.train_set.x), torch.tensor(agent.train_set.y)  # copies of the cached split
        logits = agent.model(x)  # (N, 10)
    start_norm = logit_gradient_norms(LOSSES[arm], logits, y).mean().item()
    start_accuracy = float(agent.score_split("val")["accuracy"])
    agent.learn(run_dir=run_dir)
    _, accuracy = read_scalars(run_dir, "eval/accuracy")["eval/accuracy"]
    _, weight_norms = read_scalars(run_dir, "grad_norm/layer0")["grad_norm/layer0"]
    return {"test_acc": float(agent.evaluate()["accuracy"]), "train_grad_start": start_norm,
            "val_curve": [start_accuracy, *accuracy], "weight_grad_curve": list(weight_norms)}  # fmt: skip


def experiment(quick: bool, seed: int, out: Path) -> Trial:
    """One seed: both losses' gradients at confidently wrong logits, then both trainings."""
    epochs = 5 if quick else 20
    logits, target = confidently_wrong(torch.Generator().manual_seed(seed))
    figures, accuracy_curves, norm_curves, runs = {}, {}, {}, []
    for arm, loss_fn in LOSSES.items():
        run_dir = out / SETTING[arm]
        trained = train(arm, seed, epochs, run_dir)
        runs.append(str(run_dir))
        figures[arm] = {"grad_norm_wrong": float(logit_gradient_norms(loss_fn, logits, target)[0]),
                        "train_grad_start": trained["train_grad_start"], "test_acc": trained["test_acc"]}  # fmt: skip
        accuracy_curves[arm] = (np.arange(len(trained["val_curve"])), trained["val_curve"])
        norm_curves[arm] = (np.arange(1, len(trained["weight_grad_curve"]) + 1), trained["weight_grad_curve"])
    panels = [
        Panel(f"digits from a logit of {GAP:g} on one class", accuracy_curves, "epoch", "validation accuracy"),
        Panel("|gradient| of the weight, mean over each epoch", norm_curves, "epoch", "gradient norm", log_y=True),
    ]
    return Trial(figures, panels, runs=runs)


def condition(table: Table) -> bool:
    """Means: CE's gradient norm at wrong logits in [1.3, 1.5], MSE's < 1e-3; trained from large
    logits, CE reaches >= 80% test accuracy and MSE stays <= 30%."""
    return (
        1.3 <= table.mean("cross-entropy", "grad_norm_wrong") <= 1.5
        and table.mean("MSE after softmax", "grad_norm_wrong") < 1e-3
        and table.mean("cross-entropy", "test_acc") >= 0.8
        and table.mean("MSE after softmax", "test_acc") <= 0.3
    )


LECTURE = register(
    Lecture(
        name="loss",
        homework="HW2 lecture: classification (cross-entropy vs MSE after softmax)",
        claim="At confidently wrong logits cross-entropy's gradient norm is ~1.4 and MSE-after-softmax's < 1e-3, "
        "so from large initial logits SGD learns digits with cross-entropy and stays stuck with MSE.",
        arms=tuple(LOSSES),
        experiment=experiment,
        condition=condition,
        condition_text="means: CE gradient norm at wrong logits in [1.3, 1.5], MSE's < 1e-3; "
        "test accuracy after training from a logit of 12: CE >= 0.8, MSE <= 0.3",
    )
)
