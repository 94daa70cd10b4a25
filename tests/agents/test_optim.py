"""Optimizer factory, schedules, gradient clipping and flat parameters."""

import math

import pytest
import torch
from torch import nn

from agents.fast import PATHS, optimizer_step
from agents.optim import (
    OPTIMIZERS,
    clip_grad_norm,
    fit_optimizer_state,
    flatten_parameters,
    make_optimizer,
    schedule,
    set_lr,
)


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_each_optimizer_builds_and_steps(name):
    torch.manual_seed(0)
    net = nn.Linear(3, 2)
    before = [p.detach().clone() for p in net.parameters()]
    optimizer = make_optimizer(net.parameters(), name, lr=0.1)
    net(torch.randn(8, 3)).pow(2).sum().backward()
    optimizer.step()
    assert all(not torch.equal(b, p) for b, p in zip(before, net.parameters()))


def test_unknown_optimizer_names_the_choices():
    with pytest.raises(ValueError, match="adam"):
        make_optimizer(nn.Linear(2, 2).parameters(), "adamax")


def test_fused_adam_matches_plain_adam():
    torch.manual_seed(0)
    nets = [nn.Linear(4, 3), nn.Linear(4, 3)]
    nets[1].load_state_dict(nets[0].state_dict())
    optimizers = [make_optimizer(nets[0].parameters(), "adam", 1e-2, fused=False),
                  make_optimizer(nets[1].parameters(), "adam", 1e-2)]  # fmt: skip
    x = torch.randn(16, 4)
    for _ in range(5):
        for net, optimizer in zip(nets, optimizers):
            optimizer.zero_grad()
            net(x).pow(2).mean().backward()
            optimizer.step()
    for a, b in zip(nets[0].parameters(), nets[1].parameters()):
        torch.testing.assert_close(a, b)


@pytest.mark.parametrize(
    ("name", "expected"),
    [("constant", (1.0, 1.0, 1.0)), ("linear", (1.0, 0.5, 0.0)), ("cosine", (1.0, 0.5, 0.0))],
)
def test_schedules_at_0_half_1(name, expected):
    multiplier = schedule(name)
    for p, value in zip((0.0, 0.5, 1.0), expected):
        assert multiplier(p) == pytest.approx(value, abs=1e-12)


def test_warmup_and_final():
    multiplier = schedule("linear", warmup=0.2, final=0.1)
    assert multiplier(0.0) == 0.0
    assert multiplier(0.1) == pytest.approx(0.5)
    assert multiplier(0.2) == pytest.approx(1.0)
    assert multiplier(1.0) == pytest.approx(0.1)
    assert schedule("cosine", final=0.2)(0.5) == pytest.approx(0.6)


def test_set_lr():
    optimizer = make_optimizer(nn.Linear(2, 2).parameters(), "adam", 1e-3)
    set_lr(optimizer, 5e-4)
    assert all(group["lr"] == 5e-4 for group in optimizer.param_groups)


def test_clip_grad_norm_matches_torch_for_lists_and_flat():
    torch.manual_seed(0)
    grads = [torch.randn(3, 4) * 5, torch.randn(7) * 5]
    params = [nn.Parameter(torch.zeros_like(g)) for g in grads]
    for p, g in zip(params, grads):
        p.grad = g.clone()
    norm = clip_grad_norm(params, 0.5)
    expected = math.sqrt(sum(float(g.pow(2).sum()) for g in grads))
    assert float(norm) == pytest.approx(expected, rel=1e-5)
    total = math.sqrt(sum(float(p.grad.pow(2).sum()) for p in params))
    assert total == pytest.approx(0.5, rel=1e-4)
    flat = nn.Parameter(torch.zeros(19))
    flat.grad = torch.cat([g.reshape(-1) for g in grads])
    assert float(clip_grad_norm([flat], 0.5)) == pytest.approx(expected, rel=1e-5)
    torch.testing.assert_close(flat.grad, torch.cat([p.grad.reshape(-1) for p in params]))
    small = nn.Parameter(torch.zeros(2))
    small.grad = torch.tensor([0.1, 0.1])
    clip_grad_norm([small], 0.5)  # below the limit: unchanged
    torch.testing.assert_close(small.grad, torch.tensor([0.1, 0.1]))
    assert clip_grad_norm(params, 0.0) is None


def test_flatten_parameters_shares_weights_and_grads():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2))
    reference = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2))
    reference.load_state_dict(net.state_dict())
    flat = flatten_parameters(net.parameters())
    assert flat.numel() == sum(p.numel() for p in reference.parameters())
    opt, ref_opt = make_optimizer([flat], "adam", 1e-2), make_optimizer(reference.parameters(), "adam", 1e-2)
    x = torch.randn(10, 3)
    for _ in range(3):
        net(x).pow(2).mean().backward()
        clip_grad_norm([flat], 0.1)
        opt.step()
        opt.zero_grad(set_to_none=False)
        ref_opt.zero_grad()
        reference(x).pow(2).mean().backward()
        clip_grad_norm(list(reference.parameters()), 0.1)
        ref_opt.step()
    for p, q in zip(net.parameters(), reference.parameters()):
        torch.testing.assert_close(p, q)
    net.load_state_dict(reference.state_dict())  # loading writes into the flat tensor
    assert flat.data_ptr() == next(net.parameters()).data_ptr()
    with pytest.raises(ValueError, match="twice"):
        flatten_parameters([flat, flat])


@pytest.mark.parametrize("name", ["adam", "rmsprop", "momentum"])
def test_per_tensor_optimizer_state_loads_into_a_flat_optimizer(name):
    """A checkpoint's per-tensor optimizer state carries on in the flat layout as it would have."""
    torch.manual_seed(0)
    nets = [nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2)) for _ in range(2)]
    x = torch.randn(10, 3)
    per_tensor = make_optimizer(nets[0].parameters(), name, 1e-2)
    for _ in range(3):
        per_tensor.zero_grad()
        nets[0](x).pow(2).mean().backward()
        per_tensor.step()
    nets[1].load_state_dict(nets[0].state_dict())
    flat = flatten_parameters(nets[1].parameters())
    flat_optimizer = make_optimizer([flat], name, 1e-2)
    flat_optimizer.load_state_dict(fit_optimizer_state(flat_optimizer, per_tensor.state_dict()))
    for _ in range(2):
        per_tensor.zero_grad()
        nets[0](x).pow(2).mean().backward()
        per_tensor.step()
        flat.grad.zero_()
        nets[1](x).pow(2).mean().backward()
        flat_optimizer.step()
    for p, q in zip(nets[0].parameters(), nets[1].parameters()):
        torch.testing.assert_close(p, q)


def test_optimizer_state_that_does_not_fit_the_flat_layout_is_left_to_load_state_dict():
    net = nn.Linear(3, 2)
    per_tensor = make_optimizer(net.parameters(), "adam", 1e-2)
    net.weight.grad = torch.ones(2, 3)  # the bias is never stepped: it has no state, no known size
    per_tensor.step()
    flat_optimizer = make_optimizer([flatten_parameters(nn.Linear(3, 2).parameters())], "adam", 1e-2)
    saved = per_tensor.state_dict()
    assert fit_optimizer_state(flat_optimizer, saved) is saved
    with pytest.raises(ValueError):
        flat_optimizer.load_state_dict(saved)


def test_optimizer_step_fast_path_equals_adam_step():
    torch.manual_seed(0)
    flats = [nn.Parameter(torch.randn(50)) for _ in range(2)]
    flats[1].data.copy_(flats[0].data)
    optimizers = [make_optimizer([f], "adam", 1e-2) for f in flats]
    for i in range(4):
        grad = torch.randn(50)
        for flat in flats:
            flat.grad = grad.clone()
        optimizers[0].step()
        PATHS.pop("adam", None)
        optimizer_step(optimizers[1])
        assert PATHS["adam"] == ("private" if i else "public")  # the first step creates Adam's state
    torch.testing.assert_close(flats[0], flats[1], rtol=0, atol=0)
    torch.testing.assert_close(optimizers[0].state[flats[0]]["exp_avg_sq"], optimizers[1].state[flats[1]]["exp_avg_sq"])
    assert float(optimizers[1].state[flats[1]]["step"]) == 4


@pytest.mark.parametrize("kwargs", [{}, {"momentum": 0.9}])
def test_optimizer_step_fast_path_equals_rmsprop_step(kwargs):
    torch.manual_seed(0)
    flats = [nn.Parameter(torch.randn(300)) for _ in range(2)]
    flats[1].data.copy_(flats[0].data)
    optimizers = [make_optimizer([f], "rmsprop", 7e-4) for f in flats]
    for optimizer in optimizers:
        optimizer.param_groups[0].update(kwargs)
    for i in range(5):
        grad = torch.randn(300)
        for flat, optimizer in zip(flats, optimizers):
            flat.grad = grad.clone()
            set_lr(optimizer, 7e-4 * (1 - i / 10))
        optimizers[0].step()
        optimizer_step(optimizers[1])
        if not kwargs:  # after the first step (which creates the state) the fast path runs, not step()
            optimizers[1].step = lambda: pytest.fail("plain RMSprop on one tensor should skip step()")
    torch.testing.assert_close(flats[0], flats[1], rtol=0, atol=0)
    for key in ("square_avg", "step"):
        torch.testing.assert_close(
            optimizers[0].state[flats[0]][key], optimizers[1].state[flats[1]][key], rtol=0, atol=0
        )


@pytest.mark.parametrize("name", ["adam", "rmsprop", "sgd"])
def test_optimizer_state_made_in_inference_mode_is_usable_outside(name):
    """Learners step inside torch.inference_mode; the state the first step creates must stay an
    ordinary tensor, so stepping, saving and loading work outside it too."""
    flat = nn.Parameter(torch.randn(20))
    optimizer = make_optimizer([flat], name, 1e-2)
    for _ in range(2):
        flat.grad = torch.randn(20)
        with torch.inference_mode():
            optimizer_step(optimizer)
    assert not any(t.is_inference() for t in optimizer.state[flat].values() if isinstance(t, torch.Tensor))
    flat.grad = torch.randn(20)
    optimizer_step(optimizer)  # raised "Inplace update to inference tensor outside InferenceMode" before
    make_optimizer([flat], name, 1e-2).load_state_dict(optimizer.state_dict())
