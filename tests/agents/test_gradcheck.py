"""Gradient checking passes on every network gymlab builds (torch.autograd.gradcheck, float64), and
fails on a backward pass that is wrong."""

import pytest
import torch
from torch import nn
from torch.autograd.gradcheck import GradcheckError

from agents.gradcheck import NetworkCheck, as_check, max_relative_error, network_checks

CHECKS = {check.name: check for check in network_checks()}
FULL_JACOBIAN_UP_TO = 5000
"""Checked entries (input and weight values) up to which gradcheck builds the whole Jacobian; the
CNNs (20k-75k weights) use gradcheck's fast mode, which checks random projections of it."""


def checked_entries(check: NetworkCheck) -> int:
    return sum(x.numel() for x in check.inputs if x.requires_grad)


def test_every_network_is_checked():
    assert {"mlp", "CNN 8x8", "CNN 36x36", "CNN minatar", "attention", "categorical head", "gaussian head", "gSDE head",
            "predictor mlp", "predictor cnn", "predictor attention"} <= set(CHECKS)  # fmt: skip
    assert all(check.inputs[-1].requires_grad for check in CHECKS.values())  # the weights are inputs too


@pytest.mark.parametrize("name", CHECKS)
def test_gradcheck_passes(name):
    check = CHECKS[name]
    fast = checked_entries(check) > FULL_JACOBIAN_UP_TO
    assert torch.autograd.gradcheck(check.function, check.inputs, eps=1e-6, atol=1e-5, rtol=1e-3, fast_mode=fast)
    assert max_relative_error(check) < 1e-6


class WrongTanh(torch.autograd.Function):
    """tanh whose backward forgets the square: d tanh(x) / dx = 1 - tanh(x), which is wrong."""

    @staticmethod
    def forward(ctx, x):
        y = torch.tanh(x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, grad):
        (y,) = ctx.saved_tensors
        return grad * (1 - y)


class WrongNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(4, 3)

    def forward(self, x):
        return WrongTanh.apply(self.linear(x))


def test_a_wrong_backward_fails_both_checks():
    check = as_check("wrong", WrongNet(), (torch.randn(3, 4),))
    with pytest.raises(GradcheckError):
        torch.autograd.gradcheck(check.function, check.inputs, eps=1e-6, atol=1e-5, rtol=1e-3)
    assert max_relative_error(check) > 1e-2
