"""The batch-norm lecture's pieces: batched prediction, the gradient norms read back from a run,
and its pass condition."""

import numpy as np
import pytest

from agents.supervised import Supervised
from lectures.batch_norm import ARMS, SETTINGS, condition, first_epoch_gradient_norms, predictions_in_batches
from lectures.runner import Table, Trial
from supervised.datasets import load_task


def test_predictions_in_batches_cover_every_example_in_order():
    agent = Supervised("gymlab/Digits-v0", seed=0, preset=False, device="cpu", net="mlp", hidden=[16])
    x = load_task("digits", "test").x[:10].copy()
    np.testing.assert_array_equal(predictions_in_batches(agent, x, 3), agent.predict(x))


def test_first_epoch_gradient_norms_are_the_learners_logged_ones(tmp_path):
    settings = {**SETTINGS, "depth": 3, "hidden": [16], "epochs": 2}
    agent = Supervised("gymlab/Digits-v0", seed=0, preset=False, device="cpu", **settings)
    logged = []
    twin = Supervised("gymlab/Digits-v0", seed=0, preset=False, device="cpu", **settings)
    twin.learn(callback=lambda a, m: logged.append(m))
    agent.learn(run_dir=tmp_path / "run")
    norms = first_epoch_gradient_norms(tmp_path / "run")
    assert norms.shape == (4,)  # 3 hidden layers and the output layer, input side first
    np.testing.assert_allclose(norms, [logged[0][f"grad_norm/layer{i}"] for i in range(4)], rtol=1e-6)


def figures(no_bn_acc: float, same: float = 1.0) -> Trial:
    return Trial({
        "no batch norm": {"test_acc": no_bn_acc, "grad_ratio": 1e-7, "same_predictions": 1.0},
        "batch norm": {"test_acc": 0.95, "grad_ratio": 0.6, "same_predictions": same},
    })  # fmt: skip


@pytest.mark.parametrize(("trials", "held"), [
    ([figures(0.1), figures(0.13)], True),
    ([figures(0.1), figures(0.6)], False),  # without batch norm it learned: the lecture would be wrong
    ([figures(0.1), figures(0.1, same=0.99)], False),  # eval depends on the batch size
])  # fmt: skip
def test_condition(trials, held):
    assert condition(Table(trials)) is held
    assert set(ARMS) == {"no batch norm", "batch norm"}
