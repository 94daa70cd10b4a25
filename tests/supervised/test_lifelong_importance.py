"""Importances, the penalty and the accuracy-matrix summaries of supervised.lifelong, against
closed forms on linear models and against a per-sample autograd loop."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from supervised.lifelong import (
    average_accuracy,
    backward_transfer,
    ewc_importance,
    mas_importance,
    quadratic_penalty,
    scp_importance,
    si_importance,
)


@pytest.fixture
def linear():
    torch.manual_seed(0)
    model = nn.Linear(4, 3)
    x = torch.randn(50, 4)
    return model, x


def test_ewc_fisher_of_a_linear_softmax_model_with_given_labels(linear):
    model, x = linear
    y = torch.randint(0, 3, (50,))
    fisher = ewc_importance(model, x, labels=y)
    probs = torch.softmax(model(x), dim=-1).detach()  # (N, C)
    residual = nn.functional.one_hot(y, 3).float() - probs  # d log p_y / d logits, (N, C)
    # d log p_y / d W[k, j] = (1[k = y] - p_k) x_j
    expected_w = (residual[:, :, None] * x[:, None, :]).pow(2).mean(0)
    torch.testing.assert_close(fisher["weight"], expected_w)
    torch.testing.assert_close(fisher["bias"], residual.pow(2).mean(0))


def test_ewc_fisher_with_sampled_labels_estimates_the_true_fisher():
    """E_y~p (1[k=y] - p_k)^2 = p_k (1 - p_k): on one input repeated, the sampled estimate
    converges to p_k (1 - p_k) x_j^2."""
    torch.manual_seed(1)
    model = nn.Linear(2, 3)
    x = torch.randn(1, 2).repeat(4000, 1)
    fisher = ewc_importance(model, x, generator=torch.Generator().manual_seed(0))
    p = torch.softmax(model(x[:1]), dim=-1).detach()[0]  # (C,)
    expected = (p * (1 - p))[:, None] * x[0].pow(2)[None]
    torch.testing.assert_close(fisher["weight"], expected, rtol=0.1, atol=2e-3)
    assert not torch.allclose(fisher["weight"], torch.zeros_like(expected))


def test_mas_importance_of_a_linear_model(linear):
    model, x = linear
    out = model(x).detach()  # (N, C)
    # d ||Wx + b||^2 / dW = 2 f x^T, per example, then |.| and the mean
    expected_w = (2 * out[:, :, None] * x[:, None, :]).abs().mean(0)
    importance = mas_importance(model, x)
    torch.testing.assert_close(importance["weight"], expected_w)
    torch.testing.assert_close(importance["bias"], (2 * out).abs().mean(0))


def test_vmapped_importances_equal_a_per_sample_autograd_loop():
    torch.manual_seed(2)
    model = nn.Sequential(nn.Linear(5, 8), nn.Tanh(), nn.Linear(8, 3))
    x, y = torch.randn(12, 5), torch.randint(0, 3, (12,))
    loop = {name: torch.zeros_like(p) for name, p in model.named_parameters()}
    for i in range(len(x)):
        model.zero_grad()
        torch.log_softmax(model(x[i : i + 1]), -1)[0, y[i]].backward()
        for name, p in model.named_parameters():
            loop[name] += p.grad.pow(2) / len(x)
    vmapped = ewc_importance(model, x, labels=y)
    for name in loop:
        torch.testing.assert_close(vmapped[name], loop[name])


def test_scp_importance_equals_the_mean_squared_gradient_along_each_direction():
    torch.manual_seed(3)
    model = nn.Sequential(nn.Linear(5, 8), nn.Tanh(), nn.Linear(8, 3))
    x = torch.randn(20, 5)
    importance = scp_importance(model, x, 7, torch.Generator().manual_seed(4))
    directions = torch.randn(7, 3, generator=torch.Generator().manual_seed(4))
    directions = directions / directions.norm(dim=1, keepdim=True)
    expected = {name: torch.zeros_like(p) for name, p in model.named_parameters()}
    for direction in directions:
        model.zero_grad()
        (model(x).mean(0) @ direction).backward()
        for name, p in model.named_parameters():
            expected[name] += p.grad.pow(2) / 7
    for name in expected:
        torch.testing.assert_close(importance[name], expected[name])


def test_si_importance_and_the_quadratic_penalty():
    path = {"w": torch.tensor([0.5, -1.0])}
    start, end = {"w": torch.tensor([0.0, 0.0])}, {"w": torch.tensor([1.0, 2.0])}
    importance = si_importance(path, start, end, xi=0.1)
    torch.testing.assert_close(importance["w"], torch.tensor([0.5 / 1.1, 0.0]))  # the negative one clamps to 0
    params = {"w": torch.tensor([2.0, 0.0])}
    anchors = [
        ({"w": torch.tensor([1.0, 3.0])}, {"w": torch.tensor([1.0, 1.0])}),
        ({"w": torch.tensor([2.0, 0.0])}, {"w": torch.tensor([0.0, 0.0])}),
    ]
    # 1 * 1^2 + 3 * 1^2 + 2 * 2^2 + 0
    assert float(quadratic_penalty(params, anchors)) == pytest.approx(12.0)


def test_average_accuracy_and_backward_transfer():
    matrix = np.array([[0.9, 0.1, 0.0], [0.5, 0.8, 0.1], [0.3, 0.6, 0.7]])
    assert average_accuracy(matrix) == pytest.approx((0.3 + 0.6 + 0.7) / 3)
    assert backward_transfer(matrix) == pytest.approx(((0.3 - 0.9) + (0.6 - 0.8)) / 2)
    assert backward_transfer(np.array([[0.9]])) == 0.0
