"""Adversarial attacks (HW10) on any network that maps inputs to logits, written on torch autograd.

Every attack perturbs an input x within the L-inf ball of radius ``eps`` (and within the input's
own bounds, e.g. [0, 1] for digits) so as to raise the victim's loss:

- :func:`fgsm`, Goodfellow et al. 2015: one step, ``x + eps * sign(grad_x loss)``;
- :func:`pgd` (Madry et al. 2018): ``steps`` steps of size ``step_size``, each projected back
  into the ball, from a random start in it; without the random start it is I-FGSM (Kurakin et
  al. 2017), :func:`ifgsm`;
- ``targeted=True`` walks *down* the loss of a chosen target class instead of up the true one's;
  :func:`target_classes` picks the targets: a fixed class, ``next`` (the clean prediction + 1
  mod K, HW10's targeted variant on the model's own labels) or ``random`` (any class, drawn afresh for
  every input: half the time, with two classes, the one the model picks anyway, so the model's
  errors come at random, not where the loss is steepest);
- :func:`random_noise`: a random corner of the same ball, the baseline an attack must beat;
- transfer (black box): craft the perturbation on a proxy network with any attack, then show it
  to the victim (:func:`attack` with ``proxy=``).

``target`` is the label whose loss is raised (or, targeted, lowered). ``None`` means the
network's own prediction on the clean input: the attack needs no labels, which is how a
policy is attacked (its greedy action is the label).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from supervised.kinds import cross_entropy_loss

ATTACKS: tuple[str, ...] = ("fgsm", "ifgsm", "pgd")
"""Names :func:`attack` takes."""

PERTURBATIONS: tuple[str, ...] = (*ATTACKS, "noise")
"""Names :func:`perturb` takes: the attacks and the random-noise baseline."""

TARGETS: tuple[str, ...] = ("next", "random")
"""Named targets of :func:`target_classes`, beside a class index."""

IFGSM_STEPS = 10
"""Steps of I-FGSM and PGD unless told."""

Loss = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
"""``loss(output (B, ...), target (B, ...)) -> (B,)`` per-example loss."""


def own_prediction(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The labels ``model`` predicts for the clean inputs ``x``: (B, ...) -> (B,)."""
    with torch.no_grad():
        return model(x).argmax(dim=-1)


def input_gradient(model: nn.Module, x: torch.Tensor, target: torch.Tensor, loss_fn: Loss) -> torch.Tensor:
    """d sum(loss(model(x), target)) / dx, same shape as ``x``; the model's weights get no gradient."""
    x = x.detach().requires_grad_(True)
    (grad,) = torch.autograd.grad(loss_fn(model(x), target).sum(), x)
    return grad


def project(x_adv: torch.Tensor, x: torch.Tensor, eps: float, bounds: tuple[float, float] | None) -> torch.Tensor:
    """``x_adv`` pulled back into the L-inf ball of radius ``eps`` around ``x`` and into ``bounds``."""
    x_adv = torch.max(torch.min(x_adv, x + eps), x - eps)
    if bounds is not None:
        x_adv = x_adv.clamp(*bounds)
    return x_adv


def check_target(target: int | str, n_classes: int) -> None:
    """ValueError unless ``target`` is a class index in [0, n_classes) or one of :data:`TARGETS`."""
    if isinstance(target, str) and target in TARGETS:
        return
    if isinstance(target, bool) or not isinstance(target, int) or not 0 <= target < n_classes:
        raise ValueError(f"target must be a class in 0..{n_classes - 1} or one of {', '.join(TARGETS)}, got {target!r}")


def target_classes(
    target: int | str, model: nn.Module, x: torch.Tensor, generator: torch.Generator | None = None
) -> torch.Tensor:
    """The class each input of ``x`` (B, ...) is pushed toward, (B,): ``target`` itself when it is
    a class index; ``next``: (clean prediction + 1) mod K; ``random``: a class drawn uniformly
    from all K (the clean prediction included; K = the number of logits)."""
    with torch.no_grad():
        logits = model(x)  # (B, K)
    n_classes = logits.shape[-1]
    check_target(target, n_classes)
    predicted = logits.argmax(dim=-1)  # (B,)
    if target == "next":
        return (predicted + 1) % n_classes
    if target == "random":
        return torch.randint(0, n_classes, predicted.shape, generator=generator).to(predicted.device)
    return torch.full_like(predicted, target)


def check_eps(eps: float) -> None:
    """ValueError unless ``eps`` is a finite number >= 0."""
    if not (eps >= 0 and eps < float("inf")):
        raise ValueError(f"eps must be a finite number >= 0 (the L-inf radius, in the input's units), got {eps}")


def fgsm(
    model: nn.Module,
    x: torch.Tensor,
    eps: float,
    target: torch.Tensor | None = None,
    targeted: bool = False,
    bounds: tuple[float, float] | None = None,
    loss_fn: Loss = cross_entropy_loss,
) -> torch.Tensor:
    """Fast gradient sign method: ``x + eps * sign(grad)`` (minus, ``targeted``), clipped to ``bounds``."""
    check_eps(eps)
    target = own_prediction(model, x) if target is None else target
    direction = -1.0 if targeted else 1.0
    x_adv = x + direction * eps * input_gradient(model, x, target, loss_fn).sign()
    return project(x_adv, x, eps, bounds).detach()


def pgd(
    model: nn.Module,
    x: torch.Tensor,
    eps: float,
    target: torch.Tensor | None = None,
    targeted: bool = False,
    bounds: tuple[float, float] | None = None,
    loss_fn: Loss = cross_entropy_loss,
    steps: int = IFGSM_STEPS,
    step_size: float | None = None,
    random_start: bool = True,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Projected gradient descent in the L-inf ball: ``steps`` signed-gradient steps of
    ``step_size`` (default ``2.5 * eps / steps``, Madry et al.'s choice), each projected back;
    from a uniform random point of the ball when ``random_start``."""
    check_eps(eps)
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    target = own_prediction(model, x) if target is None else target
    step_size = 2.5 * eps / steps if step_size is None else step_size
    direction = -1.0 if targeted else 1.0
    x_adv = x.detach()
    if random_start:
        noise = torch.rand(x.shape, generator=generator, dtype=x.dtype).to(x.device) * 2 - 1  # uniform in [-1, 1]
        x_adv = project(x + eps * noise, x, eps, bounds)
    for _ in range(steps):
        x_adv = x_adv + direction * step_size * input_gradient(model, x_adv, target, loss_fn).sign()
        x_adv = project(x_adv, x, eps, bounds)
    return x_adv.detach()


def ifgsm(model: nn.Module, x: torch.Tensor, eps: float, **kwargs) -> torch.Tensor:
    """Iterative FGSM: :func:`pgd` from the clean input (no random start), step ``eps / steps``
    unless told, as in HW10's sample code."""
    steps = kwargs.pop("steps", IFGSM_STEPS)
    kwargs.setdefault("step_size", eps / steps)
    return pgd(model, x, eps, steps=steps, random_start=False, **kwargs)


def random_noise(
    x: torch.Tensor, eps: float, bounds: tuple[float, float] | None = None, generator: torch.Generator | None = None
) -> torch.Tensor:
    """``x`` plus ``eps`` times a random sign per value: a random corner of the attacks' ball."""
    check_eps(eps)
    signs = torch.randint(0, 2, x.shape, generator=generator).to(x.device, x.dtype) * 2 - 1
    return project(x + eps * signs, x, eps, bounds)


def attack(
    name: str,
    model: nn.Module,
    x: torch.Tensor,
    eps: float,
    target: torch.Tensor | None = None,
    proxy: nn.Module | None = None,
    **kwargs,
) -> torch.Tensor:
    """The attack called ``name`` (fgsm | ifgsm | pgd) on ``x``. With ``proxy``, a transfer
    (black-box) attack: the gradients come from ``proxy`` and ``model`` is not touched; the
    label, when ``target`` is None, is the proxy's own prediction (a black box is never asked)."""
    if name not in ATTACKS:
        raise ValueError(f"unknown attack {name!r}; choose one of {', '.join(ATTACKS)}")
    source = model if proxy is None else proxy
    return {"fgsm": fgsm, "ifgsm": ifgsm, "pgd": pgd}[name](source, x, eps, target=target, **kwargs)


def perturb(
    name: str,
    model: nn.Module,
    x: torch.Tensor,
    eps: float,
    target: torch.Tensor | None = None,
    proxy: nn.Module | None = None,
    bounds: tuple[float, float] | None = None,
    generator: torch.Generator | None = None,
    targeted: bool = False,
) -> torch.Tensor:
    """:func:`attack` ``name`` (``targeted``: toward the classes ``target``), or the random-noise
    baseline for ``name="noise"``."""
    if name == "noise":
        return random_noise(x, eps, bounds, generator)
    kwargs = {"generator": generator} if name == "pgd" else {}
    return attack(name, model, x, eps, target, proxy, bounds=bounds, targeted=targeted, **kwargs)


def accuracy_under_attack(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    name: str,
    eps: float,
    proxy: nn.Module | None = None,
    bounds: tuple[float, float] | None = None,
    batch_size: int = 512,
    generator: torch.Generator | None = None,
) -> tuple[float, torch.Tensor]:
    """``model``'s accuracy on ``x`` (N, ...) with labels ``y`` (N,) after perturbation ``name``
    (an attack on the true labels, transfer with ``proxy``, or ``noise``): (accuracy, x_adv)."""
    perturbed = []
    for start in range(0, len(x), batch_size):
        xb, yb = x[start : start + batch_size], y[start : start + batch_size]
        perturbed.append(perturb(name, model, xb, eps, yb, proxy, bounds, generator))
    x_adv = torch.cat(perturbed)  # (N, ...)
    with torch.no_grad():
        correct = (model(x_adv).argmax(dim=-1) == y).float()
    return float(correct.mean()), x_adv


def target_rate_under_attack(
    model: nn.Module,
    x: torch.Tensor,
    targets: torch.Tensor,
    name: str,
    eps: float,
    bounds: tuple[float, float] | None = None,
    batch_size: int = 512,
    generator: torch.Generator | None = None,
) -> tuple[float, torch.Tensor]:
    """The targeted attack ``name`` pushing each input of ``x`` (N, ...) toward its class in
    ``targets`` (N,): (the fraction ``model`` classifies as its target, x_adv)."""
    perturbed = []
    for start in range(0, len(x), batch_size):
        xb, tb = x[start : start + batch_size], targets[start : start + batch_size]
        perturbed.append(perturb(name, model, xb, eps, tb, None, bounds, generator, targeted=True))
    x_adv = torch.cat(perturbed)  # (N, ...)
    with torch.no_grad():
        hits = (model(x_adv).argmax(dim=-1) == targets).float()
    return float(hits.mean()), x_adv
