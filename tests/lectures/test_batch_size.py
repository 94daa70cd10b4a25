"""lectures.batch_size: the sharpness measure."""

import pytest
import torch
from torch import nn

from lectures.batch_size import sharpness, train_loss


def trained_logistic_regression() -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(200, 2, generator=generator)
    y = (x[:, 0] + 0.5 * torch.randn(200, generator=generator) > 0).long()
    model = nn.Linear(2, 2)
    optimizer = torch.optim.LBFGS(model.parameters(), max_iter=200)

    def closure():
        optimizer.zero_grad()
        loss = nn.functional.cross_entropy(model(x), y)
        loss.backward()
        return loss

    optimizer.step(closure)
    return model, x, y


def test_no_noise_no_rise_and_the_weights_come_back():
    model, x, y = trained_logistic_regression()
    before = [p.detach().clone() for p in model.parameters()]
    rise, loss = sharpness(model, x, y, noise=0.0, draws=3, seed=0)
    assert rise == 0.0 and loss == pytest.approx(train_loss(model, x, y))
    sharpness(model, x, y, noise=0.5, draws=3, seed=0)
    assert all(torch.equal(p, q) for p, q in zip(model.parameters(), before))


def test_at_a_minimum_the_rise_grows_like_the_noise_squared():
    model, x, y = trained_logistic_regression()  # a minimum: the rise is the curvature's quadratic form
    small, _ = sharpness(model, x, y, noise=0.01, draws=200, seed=0)
    large, _ = sharpness(model, x, y, noise=0.02, draws=200, seed=0)
    assert small > 0 and large / small == pytest.approx(4.0, rel=0.1)
