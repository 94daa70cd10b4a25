"""DANN: the gradient-reversal layer's known answer, the lambda schedule, the learner's checks,
and the domain classifier's effect on the features."""

from __future__ import annotations

import math

import pytest
import torch

from agents.dann import DANN, reversal_schedule, reverse_gradient


@pytest.mark.parametrize("scale", [1.0, 0.3])
def test_gradient_reversal_is_identity_forward_and_flips_and_scales_the_gradient(scale):
    x = torch.tensor([1.0, -2.0, 3.0], requires_grad=True)
    y = reverse_gradient(x, scale)
    assert torch.equal(y, x)
    (y * torch.tensor([1.0, 2.0, 3.0])).sum().backward()
    torch.testing.assert_close(x.grad, -scale * torch.tensor([1.0, 2.0, 3.0]))


def test_reversal_through_a_layer_gives_the_negated_gradient():
    torch.manual_seed(0)
    layer = torch.nn.Linear(3, 1)
    x = torch.randn(4, 3, requires_grad=True)
    (plain,) = torch.autograd.grad(layer(x).sum(), x)
    (reversed_,) = torch.autograd.grad(layer(reverse_gradient(x, 2.0)).sum(), x)
    torch.testing.assert_close(reversed_, -2.0 * plain)


def test_reversal_schedule_ramps_from_zero_to_nearly_one():
    assert reversal_schedule(0.0) == 0.0
    assert reversal_schedule(1.0) == pytest.approx(2 / (1 + math.exp(-10)) - 1)
    assert reversal_schedule(0.1) == pytest.approx(2 / (1 + math.exp(-1)) - 1)


def test_dann_aligns_the_domains_and_source_only_does_not():
    """After training, the domain classifier tells source from target features far better for
    source-only training than for DANN (whose extractor fought it)."""
    accuracies = {}
    for weight in (0.0, 1.0):
        agent = DANN("gymlab/Moons-v0", seed=0, target="moons-rotated", domain_weight=weight, total_steps=20_000)
        metrics = []
        agent.learn(callback=lambda a, m, seen=metrics: seen.append(m["train/domain_accuracy"]))
        accuracies[weight] = sum(metrics[-50:]) / 50
        assert agent.accuracy("moons") > 0.95
    assert accuracies[0.0] > 0.75 and accuracies[1.0] < accuracies[0.0] - 0.1


@pytest.mark.parametrize(
    ("settings", "message"),
    [({}, "target=TASK"), ({"target": "nope"}, "unknown task"), ({"target": "digits"}, "share inputs"),
     ({"target": "moons-rotated", "domain_weight": -1.0}, "domain_weight")],
)  # fmt: skip
def test_bad_settings_say_what_to_do(settings, message):
    with pytest.raises(ValueError, match=message):
        DANN("gymlab/Moons-v0", **settings)
