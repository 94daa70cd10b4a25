"""The course's additions to the optimizer factory: RAdam and the eta / sqrt(t + 1) schedule."""

import pytest
import torch
from torch import nn

from agents.optim import make_optimizer, schedule


def test_inv_sqrt_is_one_over_sqrt_of_the_update_plus_one():
    multiplier = schedule("inv_sqrt", updates=100)
    assert multiplier(0.0) == 1.0
    assert multiplier(0.03) == pytest.approx(1 / 2)  # t = 3
    assert multiplier(0.99) == pytest.approx(1 / 10)  # t = 99
    assert schedule("inv_sqrt", warmup=0.5, updates=100)(0.25) == pytest.approx(0.5)  # warm-up first


def test_radam_is_torchs_radam():
    torch.manual_seed(0)
    nets = [nn.Linear(3, 2), nn.Linear(3, 2)]
    nets[1].load_state_dict(nets[0].state_dict())
    optimizers = [
        make_optimizer(nets[0].parameters(), "radam", lr=0.01),
        torch.optim.RAdam(nets[1].parameters(), lr=0.01),
    ]
    x = torch.randn(8, 3)
    for _ in range(8):  # past RAdam's first 5 steps, where it does plain momentum SGD
        for net, optimizer in zip(nets, optimizers):
            optimizer.zero_grad()
            net(x).pow(2).sum().backward()
            optimizer.step()
    for a, b in zip(nets[0].parameters(), nets[1].parameters()):
        torch.testing.assert_close(a, b)
