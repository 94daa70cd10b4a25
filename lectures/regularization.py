"""Lecture: regularization (HW2/HW3's "overfitting": less flexible models, more data, dropout, early stopping).

Claim: trained on 10% of gymlab's digits (126 examples), an MLP fits its training set and leaves a
gap to the test split; dropout and label smoothing each narrow that gap by >= 3 points, an L2
penalty and shifted copies of the images by less (>= 1.5 points on average, and on every seed).
L1 drives most weights to zero (>= 50% below 1e-3) where L2 keeps them small but non-zero (< 5%);
averaging many dropout masks predicts what eval mode (no dropout, activations scaled by 1 / (1 - p)
in training) predicts; early stopping keeps the weights of the best validation epoch.

Arms: the supervised learner (``agents.Supervised``) with ``net=mlp hidden=[128,128]
activation=relu optimizer=momentum learning_rate=0.05 batch_size=32 train_fraction=0.1``, trained
into a run directory each. The learner always keeps the weights of its best validation epoch;
the arms change one setting each:

- ``baseline``;
- ``dropout``: ``dropout=0.5``;
- ``L2``: ``weight_decay=3e-3``;
- ``label smoothing``: ``label_smoothing=0.3``;
- ``shift``: ``augment=shift`` (every training image moved by up to one pixel each way);
- ``L1``: ``l1=2e-3``;
- ``early stopping``: the baseline with ``patience=10`` (stop after 10 epochs without a better
  validation score).

Figures: ``train_acc`` (on the 126 examples trained on) and ``test_acc``, ``gap`` = their
difference and ``narrowing`` = the baseline's gap minus the arm's (a fraction: 0.03 = 3
points); ``small_weights``, the fraction of weights with |w| < 1e-3. Dropout: ``mc_acc`` and
``eval_acc``, the test accuracy of the mean softmax over ``MASKS`` dropout masks and of eval mode,
and ``mc_prob_gap``, the mean over test examples of the largest difference between the two
probability vectors. Early stopping: ``best_epoch`` (the epoch whose logged validation score is the
learner's best: highest accuracy, then lowest loss), ``stopped_epoch``, and ``kept_is_best`` (1
when the weights kept score on the validation split exactly what that epoch logged).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from agents.logger import read_scalars
from agents.networks import layer_weights
from agents.supervised import Supervised
from lectures.runner import Lecture, Panel, Table, Trial, register
from supervised.datasets import load_task

ENV_ID = "gymlab/Digits-v0"
SETTINGS = {
    "net": "mlp", "hidden": [128, 128], "activation": "relu", "optimizer": "momentum", "learning_rate": 0.05,
    "batch_size": 32, "train_fraction": 0.1, "patience": 0, "max_grad_norm": 0.0, "log_interval": 1,
}  # fmt: skip
STRONG = {"dropout": {"dropout": 0.5}, "label smoothing": {"label_smoothing": 0.3}}
"""regularisers that narrow the gap by >= 3 points"""
MILD = {"L2": {"weight_decay": 3e-3}, "shift": {"augment": "shift"}}
"""regularisers that narrow it by less: L2 strengths from 1e-3 to 1e-2 (momentum or Adam) and
shifts gave 1.5 to 2.5 points on seeds 0-2; stronger L2 leaves more than 5% of the weights near 0"""
REGULARISERS = {**STRONG, **MILD}
ARMS = {"baseline": {}, **REGULARISERS, "L1": {"l1": 2e-3}, "early stopping": {"patience": 10}}
SMALL = 1e-3
"""a weight with |w| below this counts as zero"""
MASKS = 2000
"""dropout masks averaged"""


def small_weight_fraction(model: torch.nn.Module) -> float:
    """Fraction of the weights of every Linear/Conv layer with |w| < SMALL."""
    weights = torch.cat([w.detach().flatten() for w in layer_weights(model)])
    return float((weights.abs() < SMALL).float().mean())


@torch.no_grad()
def mc_dropout_probabilities(model: torch.nn.Module, x: torch.Tensor, masks: int) -> torch.Tensor:
    """The softmax averaged over ``masks`` forward passes with dropout on (a new mask each): (N, C)."""
    model.train()
    try:
        total = sum(torch.softmax(model(x), dim=-1) for _ in range(masks))
    finally:
        model.eval()
    return total / masks


@torch.no_grad()
def dropout_figures(agent: Supervised) -> dict[str, float]:
    """Test accuracy of MC-dropout (MASKS masks) and of eval mode, and their largest probability gap."""
    test = load_task("digits", "test")
    x, y = torch.tensor(test.x), torch.tensor(test.y)  # (N, 1, 8, 8), (N,)
    with agent.own_process_state():  # the learner's random stream and thread count
        eval_probabilities = torch.softmax(agent.model.eval()(x), dim=-1)  # (N, 10)
        mc_probabilities = mc_dropout_probabilities(agent.model, x, MASKS)  # (N, 10)
    return {
        "mc_acc": float((mc_probabilities.argmax(-1) == y).float().mean()),
        "eval_acc": float((eval_probabilities.argmax(-1) == y).float().mean()),
        "mc_prob_gap": float((mc_probabilities - eval_probabilities).abs().amax(-1).mean()),
    }


def validation_curve(run_dir: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(epochs, validation accuracy, validation loss) as the run logged them after each epoch."""
    scalars = read_scalars(run_dir, "eval/")
    accuracy, loss = np.array(scalars["eval/accuracy"][1]), np.array(scalars["eval/loss"][1])
    return np.arange(1, len(accuracy) + 1), accuracy, loss


def early_stopping_figures(agent: Supervised, run_dir: Path) -> dict[str, float]:
    """The best logged validation epoch (highest accuracy, then lowest loss), where training
    stopped, and whether the weights kept score exactly what that epoch logged."""
    epochs, accuracy, loss = validation_curve(run_dir)
    best = min(range(len(epochs)), key=lambda i: (-accuracy[i], loss[i]))
    kept = agent.evaluate(split="val")
    same = abs(kept["accuracy"] - accuracy[best]) < 1e-6 and abs(kept["loss"] - loss[best]) < 1e-5
    return {"best_epoch": float(epochs[best]), "stopped_epoch": float(epochs[-1]), "kept_is_best": float(same)}


def experiment(quick: bool, seed: int, out: Path) -> Trial:
    """One seed: every arm trained on the same 10% of the train split, then scored."""
    epochs = 200 if quick else 400
    figures, validation_curves, runs = {}, {}, []
    for arm, extra in ARMS.items():
        run_dir = out / arm.replace(" ", "-")
        agent = Supervised(ENV_ID, seed=seed, preset=False, **{**SETTINGS, "epochs": epochs, **extra})
        agent.learn(run_dir=run_dir)
        runs.append(str(run_dir))
        train_acc, test_acc = agent.evaluate(split="train")["accuracy"], agent.evaluate()["accuracy"]
        figures[arm] = {"train_acc": train_acc, "test_acc": test_acc, "gap": train_acc - test_acc,
                        "small_weights": small_weight_fraction(agent.model)}  # fmt: skip
        if arm == "dropout":
            figures[arm].update(dropout_figures(agent))
        if arm == "early stopping":
            figures[arm].update(early_stopping_figures(agent, run_dir))
        logged_epochs, accuracy, loss = validation_curve(run_dir)
        validation_curves[arm] = (logged_epochs, accuracy)
    for arm in figures:
        figures[arm]["narrowing"] = figures["baseline"]["gap"] - figures[arm]["gap"]
    best = figures["early stopping"]["best_epoch"]
    stopping_curves = {"validation loss": (logged_epochs, loss), "kept epoch": ([best, best], [loss.min(), loss.max()])}
    panels = [
        Panel("126 training digits: validation accuracy", validation_curves, "epoch", "accuracy"),
        Panel("early stopping (patience 10)", stopping_curves, "epoch", "validation loss"),
    ]
    return Trial(figures, panels, runs)


def condition(table: Table) -> bool:
    """Means: dropout and label smoothing narrow the baseline's gap by >= 0.03, L2 and shift by
    >= 0.015 (and by > 0 on every seed);
    L1 leaves >= 50% of the weights below 1e-3 and L2 < 5%; MC-dropout's test accuracy within 0.02
    of eval mode's; on every seed, the early-stopped run keeps its best validation epoch's weights."""
    return (
        all(table.mean(arm, "narrowing") >= 0.03 for arm in STRONG)
        and all(table.mean(arm, "narrowing") >= 0.015 and min(table.values[arm]["narrowing"]) > 0 for arm in MILD)
        and table.mean("L1", "small_weights") >= 0.5
        and table.mean("L2", "small_weights") < 0.05
        and abs(table.mean("dropout", "mc_acc") - table.mean("dropout", "eval_acc")) <= 0.02
        and min(table.values["early stopping"]["kept_is_best"]) == 1.0
    )


LECTURE = register(
    Lecture(
        name="regularization",
        homework="HW2/HW3 lectures: overfitting and regularization",
        claim="On 10% of digits, dropout and label smoothing each narrow the train-test accuracy gap by >= 3 "
        "points, L2 and shift augmentation by >= 1.5; L1 zeroes most weights where L2 does not; averaging "
        "dropout masks matches eval mode; early stopping keeps the best validation epoch.",
        arms=tuple(ARMS),
        experiment=experiment,
        condition=condition,
        condition_text="means: gap narrowing >= 0.03 for dropout and label smoothing, >= 0.015 for L2 and shift "
        "(> 0 on every seed); weights < 1e-3: "
        ">= 50% with L1, < 5% with L2; |MC-dropout acc - eval acc| <= 0.02 (2,000 masks); every seed: the "
        "early-stopped run's weights score on val what its best logged epoch scored",
    )
)
