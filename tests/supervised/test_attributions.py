"""Tests for supervised.attributions: saliency, SmoothGrad, integrated gradients, and the map figures."""

import pytest
import torch
from torch import nn

from supervised.attributions import (
    attribute,
    integrated_gradients,
    saliency,
    smoothgrad,
    top_fraction_mask,
    total_variation,
)


def linear_model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(16, 3)).double()


def test_integrated_gradients_are_exact_on_a_linear_model():
    model = linear_model()
    weight = model[1].weight.detach()  # (3, 16)
    x = torch.rand(5, 1, 4, 4, dtype=torch.float64)
    baseline = torch.full((1, 1, 4, 4), 0.3, dtype=torch.float64)
    target = torch.tensor([0, 1, 2, 1, 0])
    for steps in (1, 7):  # the gradient is constant on the path: any number of steps is exact
        attributions = integrated_gradients(model, x, target, baseline, steps=steps)
        expected = (x - baseline) * weight[target].reshape(5, 1, 4, 4)
        torch.testing.assert_close(attributions, expected)
    gap = model(x).gather(1, target[:, None])[:, 0] - model(baseline.expand_as(x)).gather(1, target[:, None])[:, 0]
    torch.testing.assert_close(attributions.flatten(1).sum(1), gap.detach())


def test_integrated_gradients_are_complete_on_a_relu_network():
    torch.manual_seed(1)
    model = nn.Sequential(nn.Flatten(), nn.Linear(16, 64), nn.ReLU(), nn.Linear(64, 3)).double()
    x = 4 * torch.rand(8, 1, 4, 4, dtype=torch.float64)
    target = model(x).argmax(-1)
    attributions = integrated_gradients(model, x, steps=256)
    gap = (model(x) - model(torch.zeros_like(x))).gather(1, target[:, None])[:, 0].detach()
    assert ((attributions.flatten(1).sum(1) - gap).abs() <= 0.01 * gap.abs() + 1e-6).all()


def test_saliency_and_smoothgrad_of_a_linear_model_are_its_weights():
    model = linear_model()
    x = torch.rand(4, 1, 4, 4, dtype=torch.float64)
    target = torch.tensor([2, 2, 0, 1])
    expected = model[1].weight.detach()[target].reshape(4, 1, 4, 4)
    torch.testing.assert_close(saliency(model, x, target), expected)
    torch.testing.assert_close(smoothgrad(model, x, target, samples=4), expected)
    torch.testing.assert_close(attribute("saliency", model, x), saliency(model, x, model(x).argmax(-1)))
    with pytest.raises(ValueError, match="unknown attribution method 'lime'"):
        attribute("lime", model, x)


def test_total_variation_is_zero_for_a_flat_map_and_largest_for_a_checkerboard():
    flat = torch.ones(1, 1, 4, 4)
    checker = (torch.arange(4)[:, None] + torch.arange(4)[None]) % 2 * 1.0  # (4, 4)
    blob = torch.zeros(1, 1, 4, 4)
    blob[..., 1:3, 1:3] = 1.0
    tv = total_variation(torch.cat([flat, checker[None, None], blob]))
    assert tv[0] == 0 and tv[1] > tv[2] > 0
    # checkerboard: 24 neighbour pairs differ by 1/8 each (each |map| sums to 1)
    torch.testing.assert_close(tv[1], torch.tensor(24 / 8))


def test_top_fraction_mask_picks_the_largest_magnitudes():
    maps = torch.tensor([[0.1, -5.0, 0.3, 2.0, 0.0, -0.2, 0.05, 1.0, 0.4, 0.6]])
    mask = top_fraction_mask(maps, 0.2)
    assert mask.tolist() == [[False, True, False, True, False, False, False, False, False, False]]


def test_integrated_gradients_match_captum_when_it_is_installed():
    captum = pytest.importorskip("captum.attr")
    torch.manual_seed(2)
    model = nn.Sequential(nn.Flatten(), nn.Linear(16, 32), nn.Tanh(), nn.Linear(32, 3)).double()
    x = torch.rand(3, 1, 4, 4, dtype=torch.float64)
    target = torch.tensor([0, 1, 2])
    ours = integrated_gradients(model, x, target, steps=128)
    theirs = captum.IntegratedGradients(model).attribute(x, target=target, n_steps=128, method="riemann_trapezoid")
    torch.testing.assert_close(ours, theirs, rtol=1e-4, atol=1e-6)
