"""MAML with torch.func: the meta-gradient against autograd through explicit inner steps, the
first-order and Reptile variants against their definitions, and the learner on a sine family."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from agents.maml import MAML, adapt, adaptation_curve, maml_loss, reptile_direction
from supervised.kinds import KINDS

REGRESSION = KINDS["regression"]


@pytest.fixture
def tasks():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(1, 8), nn.Tanh(), nn.Linear(8, 1))
    sx, qx = torch.randn(3, 5, 1), torch.randn(3, 4, 1)  # 3 tasks, 5 support and 4 query examples
    sy, qy = torch.sin(2 * sx[..., 0]), torch.sin(2 * qx[..., 0])
    return model, sx, sy, qx, qy


def explicit_meta_gradient(model, sx, sy, qx, qy, steps, lr, first_order):
    """Autograd through written-out SGD steps, one task at a time (create_graph for second order)."""
    params = list(model.parameters())
    total = 0.0
    for t in range(len(sx)):
        weights = params
        for _ in range(steps):
            out = torch.func.functional_call(
                model, dict(zip([n for n, _ in model.named_parameters()], weights)), (sx[t],)
            )
            loss = (out[:, 0] - sy[t]).pow(2).mean()
            grads = torch.autograd.grad(loss, weights, create_graph=not first_order)
            weights = [w - lr * g for w, g in zip(weights, grads)]
        out = torch.func.functional_call(model, dict(zip([n for n, _ in model.named_parameters()], weights)), (qx[t],))
        total = total + (out[:, 0] - qy[t]).pow(2).mean() / len(sx)
    return torch.autograd.grad(total, params)


@pytest.mark.parametrize("steps", [1, 2])
def test_maml_gradient_is_autograd_through_the_inner_steps(tasks, steps):
    model, sx, sy, qx, qy = tasks
    params = dict(model.named_parameters())
    loss = maml_loss(model, params, sx, sy, qx, qy, REGRESSION, steps, 0.1)
    ours = torch.autograd.grad(loss, list(params.values()))
    expected = explicit_meta_gradient(model, sx, sy, qx, qy, steps, 0.1, first_order=False)
    first_order = explicit_meta_gradient(model, sx, sy, qx, qy, steps, 0.1, first_order=True)
    for a, b in zip(ours, expected):
        torch.testing.assert_close(a, b)
    # the second-order term is not negligible here, so the comparison above could fail
    assert max(float((b - c).abs().max()) for b, c in zip(expected, first_order)) > 1e-3


def test_first_order_maml_drops_the_second_order_term(tasks):
    model, sx, sy, qx, qy = tasks
    params = dict(model.named_parameters())
    loss = maml_loss(model, params, sx, sy, qx, qy, REGRESSION, 1, 0.1, first_order=True)
    ours = torch.autograd.grad(loss, list(params.values()))
    for a, b in zip(ours, explicit_meta_gradient(model, sx, sy, qx, qy, 1, 0.1, first_order=True)):
        torch.testing.assert_close(a, b)


def test_reptile_direction_is_theta_minus_the_mean_adapted_weights(tasks):
    model, sx, sy, _, _ = tasks
    params = dict(model.named_parameters())
    direction = reptile_direction(model, params, sx, sy, REGRESSION, 3, 0.05)
    adapted = [adapt(model, params, sx[t], sy[t], REGRESSION, 3, 0.05) for t in range(3)]
    for name, p in params.items():
        expected = p.detach() - torch.stack([a[name].detach() for a in adapted]).mean(0)
        torch.testing.assert_close(direction[name], expected)


def test_adaptation_curve_starts_at_the_unadapted_loss_and_falls(tasks):
    """Scored on the support set itself, small SGD steps can only lower the loss."""
    model, sx, sy, _, _ = tasks
    qx, qy = sx, sy
    params = dict(model.named_parameters())
    curve = adaptation_curve(model, params, sx, sy, qx, qy, REGRESSION, 5, 0.05)
    with torch.no_grad():
        before = torch.stack([(model(qx[t])[:, 0] - qy[t]).pow(2).mean() for t in range(3)]).mean()
    assert curve.shape == (6,)
    torch.testing.assert_close(curve[0], before)
    assert bool((curve[1:] < curve[:-1]).all())


def test_maml_learner_on_sine_beats_its_own_start():
    agent = MAML("gymlab/Sine-v0", seed=0, env_kwargs={"family": "sine"}, total_steps=500 * 25 * 20, eval_tasks=50)
    before = agent.curve()[1]
    agent.learn()
    after = agent.curve()[1]
    assert after < 0.75 * before
    stats = agent.evaluate()
    assert stats["mean_reward"] == pytest.approx(-after, rel=1e-5)


def test_few_shot_digits_query_accuracy_after_meta_training():
    kwargs = {"family": "few-shot", "n_way": 5, "k_shot": 1, "n_query": 5}
    agent = MAML("gymlab/Digits-v0", seed=0, env_kwargs=kwargs, hidden=[64], inner_lr=0.4, meta_batch=8,
                 total_steps=150 * 8 * 30, eval_tasks=50)  # fmt: skip
    agent.learn()
    assert agent.query_accuracy() > 0.5  # chance is 0.2


@pytest.mark.parametrize(
    ("settings", "env_kwargs", "message"),
    [
        ({"algo": "protonet"}, {"family": "sine"}, "algo must be one of"),
        ({"inner_steps": 0}, {"family": "sine"}, "inner_steps"),
        ({}, {}, "family=sine"),
    ],
)
def test_bad_settings_say_what_to_do(settings, env_kwargs, message):
    with pytest.raises(ValueError, match=message):
        MAML("gymlab/Sine-v0", env_kwargs=env_kwargs, **settings)


def test_draw_tasks_stacks_support_and_query():
    agent = MAML("gymlab/Sine-v0", env_kwargs={"family": "sine", "k_shot": 5, "n_query": 7})
    sx, sy, qx, qy = agent.draw_tasks(4, "train", np.random.default_rng(0))
    assert sx.shape == (4, 5, 1) and sy.shape == (4, 5) and qx.shape == (4, 7, 1) and qy.shape == (4, 7)
