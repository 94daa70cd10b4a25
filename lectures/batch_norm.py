"""Lecture: batch normalization (HW3's "Tips for training: batch normalization").

Claim: an 8-layer sigmoid MLP trained by plain SGD on gymlab's digits does not learn (<= 30% test
accuracy) because its gradients vanish layer by layer toward the input; with a batch norm after
each hidden layer it reaches >= 85%, and in eval mode (running statistics) its predictions do not
depend on how many examples are scored together.

Arms: the supervised learner (``agents.Supervised``) with ``net=mlp activation=sigmoid hidden=[64]
depth=8 optimizer=sgd learning_rate=0.1 batch_size=32``, trained into a run directory each:

- ``no batch norm``;
- ``batch norm``: the same with ``batch_norm=true`` (a BatchNorm1d after each hidden Linear).

Figures: ``test_acc``; the mean gradient norm of each layer's weight over the first epoch (the
learner's ``grad_norm/layer{i}`` in TensorBoard), ``grad_first`` (layer 0, next to the input),
``grad_last`` (the output layer) and ``grad_ratio`` = first / last; ``acc_batch1`` and
``acc_batch256``, the test accuracy when examples are predicted one at a time and 256 at a time,
and ``same_predictions``, the fraction of test examples given the same label both ways.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from agents.logger import read_scalars
from agents.supervised import Supervised
from lectures.runner import Lecture, Panel, Table, Trial, register
from supervised.datasets import load_task

ENV_ID = "gymlab/Digits-v0"
SETTINGS = {
    "net": "mlp", "activation": "sigmoid", "hidden": [64], "depth": 8, "optimizer": "sgd", "learning_rate": 0.1,
    "batch_size": 32, "patience": 0, "max_grad_norm": 0.0, "log_interval": 1,
}  # fmt: skip
ARMS = {"no batch norm": {}, "batch norm": {"batch_norm": True}}


def predictions_in_batches(agent: Supervised, x: np.ndarray, batch_size: int) -> np.ndarray:
    """Labels (N,) for inputs x (N, *obs_shape), predicted ``batch_size`` examples at a time."""
    return np.concatenate([agent.predict(x[i : i + batch_size]) for i in range(0, len(x), batch_size)])


def first_epoch_gradient_norms(run_dir: Path) -> np.ndarray:
    """The gradient norm of each layer's weight, averaged over the first epoch: (layers,), input side first."""
    norms = read_scalars(run_dir, "grad_norm/layer")
    layers = sorted(norms, key=lambda tag: int(tag.removeprefix("grad_norm/layer")))
    return np.array([norms[tag][1][0] for tag in layers])


def experiment(quick: bool, seed: int, out: Path) -> Trial:
    """One seed: both arms trained, their gradient norms read back, the test split predicted both ways."""
    epochs = 10 if quick else 30
    test = load_task("digits", "test")
    test_x = test.x.copy()  # (N, 1, 8, 8), writable (the cached split is read-only)
    figures, gradient_curves, accuracy_curves, runs = {}, {}, {}, []
    for arm, extra in ARMS.items():
        run_dir = out / arm.replace(" ", "-")
        agent = Supervised(ENV_ID, seed=seed, preset=False, epochs=epochs, **SETTINGS, **extra)
        agent.learn(run_dir=run_dir)
        runs.append(str(run_dir))
        norms = first_epoch_gradient_norms(run_dir)
        one_at_a_time = predictions_in_batches(agent, test_x, 1)
        in_batches = predictions_in_batches(agent, test_x, 256)
        figures[arm] = {
            "test_acc": agent.evaluate()["accuracy"],
            "grad_first": float(norms[0]),
            "grad_last": float(norms[-1]),
            "grad_ratio": float(norms[0] / norms[-1]),
            "acc_batch1": float(np.mean(one_at_a_time == test.y)),
            "acc_batch256": float(np.mean(in_batches == test.y)),
            "same_predictions": float(np.mean(one_at_a_time == in_batches)),
        }
        gradient_curves[arm] = (np.arange(len(norms)), norms)
        steps, accuracy = read_scalars(run_dir, "eval/accuracy")["eval/accuracy"]
        accuracy_curves[arm] = (np.arange(1, len(steps) + 1), accuracy)
    panels = [
        Panel("first epoch: |gradient| of each layer's weight", gradient_curves, "layer (0 = input side)",
              "gradient norm", log_y=True),
        Panel("8 sigmoid layers, SGD", accuracy_curves, "epoch", "validation accuracy"),
    ]  # fmt: skip
    return Trial(figures, panels, runs)


def condition(table: Table) -> bool:
    """Means: test accuracy <= 0.30 without batch norm and >= 0.85 with it; the first layer's
    gradient < 1e-3 of the last one's without batch norm and > 0.1 of it with; with batch norm the
    same label for every test example on every seed, one at a time or 256 at a time."""
    return (
        table.mean("no batch norm", "test_acc") <= 0.30
        and table.mean("batch norm", "test_acc") >= 0.85
        and table.mean("no batch norm", "grad_ratio") < 1e-3
        and table.mean("batch norm", "grad_ratio") > 0.1
        and min(table.values["batch norm"]["same_predictions"]) == 1.0
    )


LECTURE = register(
    Lecture(
        name="batch-norm",
        homework="HW3 lecture: batch normalization",
        claim="An 8-layer sigmoid MLP trained by SGD on digits stays <= 30% test accuracy as its gradients vanish "
        "toward the input; with batch norm it reaches >= 85%, and its eval-mode predictions do not depend on the "
        "batch size.",
        arms=tuple(ARMS),
        experiment=experiment,
        condition=condition,
        condition_text="means: test accuracy <= 0.30 without BN, >= 0.85 with BN; first-epoch gradient norm of "
        "layer 0 / output layer < 1e-3 without BN, > 0.1 with BN; with BN every test label the same at batch "
        "size 1 and 256 on every seed",
    )
)
