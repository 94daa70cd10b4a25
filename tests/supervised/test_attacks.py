"""Tests for supervised.attacks: FGSM, I-FGSM/PGD, targeted, noise and transfer, by known answers."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from supervised.attacks import (
    accuracy_under_attack,
    attack,
    fgsm,
    ifgsm,
    pgd,
    random_noise,
    target_classes,
    target_rate_under_attack,
)


def linear_model(seed: int = 0, n_in: int = 6, n_classes: int = 3) -> nn.Linear:
    torch.manual_seed(seed)
    return nn.Linear(n_in, n_classes).double()


def test_fgsm_perturbation_is_eps_times_the_sign_of_the_hand_computed_gradient():
    model = linear_model()
    x = torch.randn(5, 6, dtype=torch.float64)
    y = torch.tensor([0, 1, 2, 0, 1])
    # d CE / dx for logits W x + b: W^T (softmax(logits) - one_hot(y))
    probabilities = F.softmax(model(x), dim=-1).detach()
    grad = (probabilities - F.one_hot(y, 3).double()) @ model.weight.detach()  # (5, 6)
    x_adv = fgsm(model, x, 0.1, y)
    torch.testing.assert_close(x_adv - x, 0.1 * grad.sign())
    torch.testing.assert_close(fgsm(model, x, 0.1, y, targeted=True) - x, -0.1 * grad.sign())


def test_fgsm_raises_the_loss_and_stays_in_bounds():
    model = linear_model()
    x = torch.rand(8, 6, dtype=torch.float64)
    y = model(x).argmax(-1)  # untargeted default: the model's own prediction
    x_adv = fgsm(model, x, 0.3, bounds=(0.0, 1.0))
    assert x_adv.min() >= 0 and x_adv.max() <= 1 and (x_adv - x).abs().max() <= 0.3 + 1e-12
    assert (F.cross_entropy(model(x_adv), y) > F.cross_entropy(model(x), y)).item()


def test_ifgsm_with_one_full_step_is_fgsm_and_more_steps_hurt_at_least_as_much():
    torch.manual_seed(1)
    model = nn.Sequential(nn.Linear(6, 32), nn.ReLU(), nn.Linear(32, 3)).double()
    x, y = torch.randn(64, 6, dtype=torch.float64), torch.randint(0, 3, (64,))
    torch.testing.assert_close(ifgsm(model, x, 0.2, target=y, steps=1), fgsm(model, x, 0.2, y))
    loss = {name: F.cross_entropy(model(attack(name, model, x, 0.2, y)), y).item() for name in ("fgsm", "ifgsm")}
    assert loss["ifgsm"] >= loss["fgsm"] - 1e-9


def test_pgd_stays_in_the_ball_and_its_random_start_follows_the_generator():
    model = linear_model()
    x = torch.rand(16, 6, dtype=torch.float64)
    a = pgd(model, x, 0.05, generator=torch.Generator().manual_seed(3), bounds=(0.0, 1.0))
    b = pgd(model, x, 0.05, generator=torch.Generator().manual_seed(3), bounds=(0.0, 1.0))
    assert (a - x).abs().max() <= 0.05 + 1e-12 and a.min() >= 0 and a.max() <= 1
    torch.testing.assert_close(a, b)
    with pytest.raises(ValueError, match="steps must be >= 1"):
        pgd(model, x, 0.05, steps=0)


def test_targeted_pgd_moves_the_prediction_to_the_target():
    model = linear_model()
    x = torch.randn(32, 6, dtype=torch.float64)
    target = torch.full((32,), 2)
    x_adv = pgd(model, x, 5.0, target, targeted=True, steps=20)
    assert (model(x_adv).argmax(-1) == 2).float().mean() > (model(x).argmax(-1) == 2).float().mean()
    assert (model(x_adv).argmax(-1) == 2).all()


def test_random_noise_is_a_corner_of_the_ball():
    x = torch.zeros(4, 10)
    delta = random_noise(x, 0.2, generator=torch.Generator().manual_seed(0)) - x
    torch.testing.assert_close(delta.abs(), torch.full_like(delta, 0.2))
    assert (delta > 0).any() and (delta < 0).any()


def test_transfer_attack_takes_gradients_from_the_proxy_only():
    victim, proxy = linear_model(0), linear_model(1)
    x, y = torch.randn(10, 6, dtype=torch.float64), torch.randint(0, 3, (10,))
    torch.testing.assert_close(attack("fgsm", victim, x, 0.1, y, proxy=proxy), fgsm(proxy, x, 0.1, y))
    accuracy, x_adv = accuracy_under_attack(victim, x, y, "fgsm", 0.1, proxy=proxy, batch_size=3)
    assert accuracy == pytest.approx((victim(x_adv).argmax(-1) == y).double().mean().item())
    torch.testing.assert_close(x_adv, fgsm(proxy, x, 0.1, y))


def test_bad_names_and_eps_say_what_to_use():
    model, x = linear_model(), torch.randn(2, 6, dtype=torch.float64)
    with pytest.raises(ValueError, match="unknown attack 'cw'; choose one of fgsm, ifgsm, pgd"):
        attack("cw", model, x, 0.1)
    with pytest.raises(ValueError, match="eps must be a finite number >= 0"):
        fgsm(model, x, -0.1)


def test_target_classes_fixed_next_and_random_by_known_answer():
    model = nn.Linear(2, 3, bias=False).double()
    with torch.no_grad():
        model.weight.copy_(torch.eye(3, 2, dtype=torch.float64))  # logits (x0, x1, 0)
    x = torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, -1.0]], dtype=torch.float64)  # predictions 0, 1, 2
    assert target_classes(1, model, x).tolist() == [1, 1, 1]
    assert target_classes("next", model, x).tolist() == [1, 2, 0]
    drawn = torch.stack([target_classes("random", model, x, torch.Generator().manual_seed(s)) for s in range(60)])
    assert all(len(drawn[:, i].unique()) == 3 for i in range(3))  # every class turns up, the prediction too
    torch.testing.assert_close(
        drawn, torch.stack([target_classes("random", model, x, torch.Generator().manual_seed(s)) for s in range(60)])
    )  # the generator decides
    with pytest.raises(ValueError, match="target must be a class in 0..2 or one of next, random, got 3"):
        target_classes(3, model, x)
    with pytest.raises(ValueError, match="got 'last'"):
        target_classes("last", model, x)


def test_target_rate_counts_the_inputs_given_their_target():
    model = linear_model()
    x = torch.randn(20, 6, dtype=torch.float64)
    targets = (model(x).argmax(-1) + 1) % 3
    rate, x_adv = target_rate_under_attack(model, x, targets, "ifgsm", 0.0, batch_size=7)
    assert rate == 0.0 and torch.equal(x_adv, x)  # eps 0: nothing moves, no prediction is its target
    rate, x_adv = target_rate_under_attack(model, x, targets, "ifgsm", 5.0, batch_size=7)
    torch.testing.assert_close(x_adv[:7], ifgsm(model, x[:7], 5.0, target=targets[:7], targeted=True))
    assert rate == pytest.approx((model(x_adv).argmax(-1) == targets).double().mean().item()) and rate > 0.9
