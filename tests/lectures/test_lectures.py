"""The lectures: known answers for the pieces they add, and each pass condition on --quick (slow)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from lectures import discover, run_lecture
from lectures.descent import walk
from lectures.loss import GAP, confidently_wrong, logit_gradient_norms, softmax_squared_error
from supervised.kinds import cross_entropy_loss


def test_walk_is_gradient_descent_through_the_env():
    # L = (w1^2 + 100 w2^2) / 2 from (1, 0.1): grad = (1, 10); one SGD step of 0.01 -> (0.99, 0)
    result = walk("quadratic", "sgd", 0.01, 2, theta=(1.0, 0.1))
    np.testing.assert_allclose(result.path[:2], [[1.0, 0.1], [0.99, 0.0]], atol=1e-7)
    assert result.losses[0] == pytest.approx(0.5 * (1 + 100 * 0.01))
    assert result.steps_to(0.5) == 1 and result.steps_to(1e-9) is None


def test_walk_stops_at_the_tolerance_and_on_divergence():
    assert len(walk("quadratic", "sgd", 1.0, 50, theta=(1.0, 0.0), stop_below=1e-3).losses) == 2  # one exact step
    diverged = walk("quadratic", "sgd", 1.0, 500, theta=(0.0, 1.0))  # lr 1 on curvature 100: x -99 per step
    assert len(diverged.losses) < 10


def test_softmax_squared_error_known_value():
    logits = torch.log(torch.tensor([[0.5, 0.25, 0.25]]))  # softmax = (0.5, 0.25, 0.25)
    assert float(softmax_squared_error(logits, torch.tensor([0]))) == pytest.approx(0.25 + 0.0625 + 0.0625)


def test_at_confidently_wrong_logits_ce_keeps_a_gradient_and_mse_loses_it():
    logits, target = confidently_wrong(torch.Generator().manual_seed(0))
    assert logits[0].argmax() != target[0] and float(logits.max()) > GAP - 1
    ce = float(logit_gradient_norms(cross_entropy_loss, logits, target)[0])
    mse = float(logit_gradient_norms(softmax_squared_error, logits, target)[0])
    assert ce == pytest.approx(math.sqrt(2), abs=1e-3)  # softmax - one_hot ~ e_wrong - e_true
    assert mse < 1e-3


def test_logit_gradient_norms_are_per_example():
    logits = torch.zeros(2, 2)
    norms = logit_gradient_norms(cross_entropy_loss, logits, torch.tensor([0, 1]))
    np.testing.assert_allclose(norms, [math.sqrt(0.5), math.sqrt(0.5)])  # (0.5 - 1, 0.5): norm 0.707


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(discover()))
def test_each_lectures_claim_holds_on_quick_settings(name, tmp_path):
    result = run_lecture(discover()[name], quick=True, out=tmp_path)
    assert result.held, f"{name} did not hold:\n{result.table.text()}"
