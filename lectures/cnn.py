"""Lecture: CNN (HW3: image classification; a convolution is a fully connected layer with
receptive fields and shared weights, so it spends its parameters better on images).

Claim: on the 8x8 digits the supervised learner's small CNN beats an MLP with the same number
of parameters (matched within 2%): a higher mean test accuracy and a test cross-entropy at
most 0.85 of the MLP's.

Arms (runs of the supervised learner on ``gymlab/Digits-v0`` with the same optimiser, schedule,
epochs and validation-chosen weights):

- ``CNN``: ``net=cnn`` (two 3x3 convolutions of 32 and 64 channels, a 2x2 max-pool, then a
  dense layer of ``CNN_FEATURES`` units);
- ``MLP``: two hidden layers of equal width, the width whose parameter count is closest to the
  CNN's (:func:`mlp_width_matching`). Both counts are taken from the trained networks.
"""

from __future__ import annotations

from pathlib import Path

from lectures.runner import Lecture, Panel, Table, Trial, register
from lectures.supervised_runs import parameter_count, run_curve, split_scores, train_run

CNN_FEATURES = 64
"""the CNN's dense layer (its parameters: 320 + 18,496 convolution, 65,600 dense, 650 output)"""
MATCH = 0.02
"""largest relative difference of the parameter counts"""
SETTINGS = {"learning_rate": 3e-3, "lr_schedule": "cosine", "batch_size": 64, "patience": 0}
DIGITS_PIXELS, DIGITS_CLASSES = 64, 10


def mlp_parameters(width: int, layers: int = 2, inputs: int = DIGITS_PIXELS, outputs: int = DIGITS_CLASSES) -> int:
    """Weights and biases of an MLP ``inputs -> width x layers -> outputs``."""
    sizes = [inputs, *[width] * layers, outputs]
    return sum(a * b + b for a, b in zip(sizes, sizes[1:]))


def mlp_width_matching(parameters: int, layers: int = 2) -> int:
    """The hidden width whose MLP has the parameter count closest to ``parameters``."""
    return min(range(1, 4096), key=lambda width: abs(mlp_parameters(width, layers) - parameters))


def experiment(quick: bool, seed: int, out: Path) -> Trial:
    """One seed: the CNN, then the MLP matched to its parameter count."""
    epochs = 15 if quick else 30
    cnn = train_run("gymlab/Digits-v0", seed, out / "CNN", net="cnn", hidden=[CNN_FEATURES], epochs=epochs, **SETTINGS)
    width = mlp_width_matching(parameter_count(cnn))
    mlp = train_run("gymlab/Digits-v0", seed, out / "MLP", net="mlp", hidden=[width, width], activation="relu",
                    epochs=epochs, **SETTINGS)  # fmt: skip
    figures = {
        arm: {"parameters": parameter_count(agent), **split_scores(agent, ("val", "test"))}
        for arm, agent in (("CNN", cnn), ("MLP", mlp))
    }
    figures["MLP"]["width"] = width
    curves = {arm: run_curve(out / arm, "eval/accuracy") for arm in ("CNN", "MLP")}
    panels = [Panel("digits: validation accuracy per epoch", curves, "examples", "val accuracy")]
    return Trial(figures, panels, [str(out / "CNN"), str(out / "MLP")])


def condition(table: Table) -> bool:
    """Parameter counts within MATCH; means: the CNN's test accuracy above the MLP's and its
    test cross-entropy at most 0.85 of the MLP's."""
    cnn_parameters, mlp_parameters_ = table.mean("CNN", "parameters"), table.mean("MLP", "parameters")
    return (
        abs(mlp_parameters_ - cnn_parameters) <= MATCH * cnn_parameters
        and table.mean("CNN", "test_accuracy") > table.mean("MLP", "test_accuracy")
        and table.mean("CNN", "test_loss") <= 0.85 * table.mean("MLP", "test_loss")
    )


LECTURE = register(
    Lecture(
        name="cnn",
        homework="HW3: CNN (receptive fields and shared weights)",
        claim="On the digits a CNN beats an MLP with the same parameter count (within 2%): higher test accuracy "
        "and a test cross-entropy at most 0.85 of the MLP's.",
        arms=("CNN", "MLP"),
        experiment=experiment,
        condition=condition,
        condition_text="parameter counts within 2%; means: CNN test accuracy > MLP's, CNN test loss <= 0.85 x MLP's",
    )
)
