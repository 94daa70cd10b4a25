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
2. Training from large initial logits: a linear classifier on gymlab's digits (train split)
   whose bias starts at ``GAP`` on one class, so every example starts out confidently predicted
   as that class; the same SGD (batch 64, learning rate 1) for both losses; test accuracy per
   epoch and the mean per-example gradient norm w.r.t. the logits.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from agents.networks import mlp
from agents.optim import make_optimizer
from lectures.runner import Lecture, Panel, Table, Trial, register
from supervised.datasets import load_task
from supervised.kinds import cross_entropy_loss

GAP = 12.0
"""how far the wrong class's logit stands above the others"""
N_CLASSES = 10
LEARNING_RATE = 1.0
BATCH_SIZE = 64


def softmax_squared_error(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """sum_i (softmax(logits)_i - one_hot(target)_i)^2 per example: (B, C), (B,) -> (B,)."""
    probabilities = F.softmax(logits, dim=-1)  # (B, C)
    return (probabilities - F.one_hot(target.long(), logits.shape[-1]).to(logits.dtype)).square().sum(dim=-1)


LOSSES = {"cross-entropy": cross_entropy_loss, "MSE after softmax": softmax_squared_error}


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


def train(loss_fn, seed: int, epochs: int) -> tuple[list[float], list[float]]:
    """SGD on digits from a bias of GAP on one class: (test accuracy, mean logit-gradient norm)
    after each epoch (index 0: before training)."""
    train_set, test_set = load_task("digits", "train"), load_task("digits", "test")
    x, y = torch.tensor(train_set.x).flatten(1), torch.tensor(train_set.y)  # (N, 64), (N,)
    x_test, y_test = torch.tensor(test_set.x).flatten(1), torch.tensor(test_set.y)
    torch.manual_seed(seed)
    model = mlp([x.shape[1], N_CLASSES])  # a linear classifier
    with torch.no_grad():
        model[0].bias.zero_()
        model[0].bias[seed % N_CLASSES] = GAP  # every example starts confidently "seed % 10"
    optimizer = make_optimizer(model.parameters(), "sgd", LEARNING_RATE)

    def score() -> tuple[float, float]:
        with torch.no_grad():
            accuracy = (model(x_test).argmax(-1) == y_test).float().mean().item()
            logits = model(x)
        return accuracy, logit_gradient_norms(loss_fn, logits, y).mean().item()

    accuracy, norm = score()
    accuracies, norms = [accuracy], [norm]
    generator = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        order = torch.randperm(len(x), generator=generator)
        for start in range(0, len(x), BATCH_SIZE):
            batch = order[start : start + BATCH_SIZE]
            loss = loss_fn(model(x[batch]), y[batch]).mean()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        accuracy, norm = score()
        accuracies.append(accuracy)
        norms.append(norm)
    return accuracies, norms


def experiment(quick: bool, seed: int, out: Path) -> Trial:
    """One seed: both losses' gradients at confidently wrong logits, then both trainings."""
    epochs = 5 if quick else 20
    logits, target = confidently_wrong(torch.Generator().manual_seed(seed))
    figures, accuracy_curves, norm_curves = {}, {}, {}
    for arm, loss_fn in LOSSES.items():
        accuracies, norms = train(loss_fn, seed, epochs)
        figures[arm] = {"grad_norm_wrong": float(logit_gradient_norms(loss_fn, logits, target)[0]),
                        "train_grad_start": norms[0], "test_acc": accuracies[-1]}  # fmt: skip
        accuracy_curves[arm] = (np.arange(epochs + 1), accuracies)
        norm_curves[arm] = (np.arange(epochs + 1), norms)
    panels = [
        Panel(f"digits from a logit of {GAP:g} on one class", accuracy_curves, "epoch", "test accuracy"),
        Panel("mean |d loss / d logits| on train", norm_curves, "epoch", "gradient norm", log_y=True),
    ]
    return Trial(figures, panels)


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
