"""The loss lecture's pieces: the gradients at confidently wrong logits, and one arm's run."""

import math

import torch

from agents.logger import read_scalars
from lectures import loss


def test_cross_entropy_keeps_a_gradient_of_sqrt_2_where_softmax_mse_loses_it():
    logits, target = loss.confidently_wrong(torch.Generator().manual_seed(0))
    assert logits.argmax() != target[0]  # confidently wrong
    cross_entropy = float(loss.logit_gradient_norms(loss.cross_entropy_loss, logits, target)[0])
    squared_error = float(loss.logit_gradient_norms(loss.softmax_squared_error, logits, target)[0])
    assert abs(cross_entropy - math.sqrt(2)) < 1e-3  # softmax - one_hot = e_wrong - e_target, nearly
    assert squared_error < 1e-3


def test_each_arm_trains_into_a_run_directory_from_the_biased_start(tmp_path):
    trained = loss.train("MSE after softmax", seed=3, epochs=1, run_dir=tmp_path / "run")
    assert (tmp_path / "run" / "config.json").exists() and any((tmp_path / "run" / "checkpoints").iterdir())
    assert trained["val_curve"][0] < 0.2  # everything starts predicted as class 3
    assert len(trained["val_curve"]) == 2 and len(trained["weight_grad_curve"]) == 1
    assert "eval/accuracy" in read_scalars(tmp_path / "run", "eval/")
