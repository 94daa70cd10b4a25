"""Explaining one prediction (HW9): how much each input value matters to a class's logit.

Written on torch autograd; every method returns a map of the input's shape, one per example:

- :func:`saliency` (Simonyan et al. 2014): the gradient of the class logit with respect to the
  input;
- :func:`smoothgrad` (Smilkov et al. 2017): the gradient averaged over noisy copies of the
  input, which keeps what the copies agree on and averages the speckle away;
- :func:`integrated_gradients` (Sundararajan et al. 2017): (x - baseline) times the gradient
  averaged along the straight path from the baseline to x. Its attributions add up to
  f(x) - f(baseline) (completeness), exactly for a linear model and up to the path's
  discretisation otherwise.

The class explained is ``target`` or, when None, the model's own prediction. Figures that judge
a map: :func:`total_variation` (how speckled it is) and :func:`top_fraction_mask` (the most
salient inputs, for deletion tests).
"""

from __future__ import annotations

import torch
from torch import nn

METHODS: tuple[str, ...] = ("saliency", "smoothgrad", "ig")
"""Names :func:`attribute` takes."""


def class_logit_gradient(model: nn.Module, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """d logit[target] / dx per example: (B, ...) -> (B, ...)."""
    x = x.detach().requires_grad_(True)
    logits = model(x)  # (B, n_classes)
    (grad,) = torch.autograd.grad(logits.gather(1, target.long()[:, None]).sum(), x)
    return grad


def predicted_class(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The model's argmax class per example: (B,)."""
    with torch.no_grad():
        return model(x).argmax(dim=-1)


def saliency(model: nn.Module, x: torch.Tensor, target: torch.Tensor | None = None) -> torch.Tensor:
    """The plain gradient of the class logit: (B, ...) maps (signed; show their magnitude)."""
    target = predicted_class(model, x) if target is None else target
    return class_logit_gradient(model, x, target)


def smoothgrad(
    model: nn.Module,
    x: torch.Tensor,
    target: torch.Tensor | None = None,
    samples: int = 32,
    noise: float = 0.15,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """The class logit's gradient averaged over ``samples`` copies of ``x`` with Gaussian noise of
    standard deviation ``noise`` (in the input's units; Smilkov et al. suggest 10-20% of its range)."""
    target = predicted_class(model, x) if target is None else target
    total = torch.zeros_like(x)
    for _ in range(samples):
        noisy = x + noise * torch.randn(x.shape, generator=generator, dtype=x.dtype).to(x.device)
        total += class_logit_gradient(model, noisy, target)
    return total / samples


def integrated_gradients(
    model: nn.Module,
    x: torch.Tensor,
    target: torch.Tensor | None = None,
    baseline: torch.Tensor | None = None,
    steps: int = 64,
) -> torch.Tensor:
    """(x - baseline) times the mean gradient on the path baseline -> x (trapezoid rule over
    ``steps`` intervals); the baseline is all zeros (a blank image) unless given."""
    target = predicted_class(model, x) if target is None else target
    baseline = torch.zeros_like(x) if baseline is None else baseline.expand_as(x)
    alphas = torch.linspace(0.0, 1.0, steps + 1, dtype=x.dtype, device=x.device)  # (steps + 1,)
    weights = torch.full_like(alphas, 1.0 / steps)
    weights[0] = weights[-1] = 0.5 / steps  # trapezoid: half weight at both ends
    mean_grad = torch.zeros_like(x)
    for alpha, weight in zip(alphas, weights):
        mean_grad += weight * class_logit_gradient(model, baseline + alpha * (x - baseline), target)
    return (x - baseline) * mean_grad


def attribute(
    method: str, model: nn.Module, x: torch.Tensor, target: torch.Tensor | None = None, **kwargs
) -> torch.Tensor:
    """The attribution ``method`` (saliency | smoothgrad | ig) of ``x``'s class ``target``."""
    functions = {"saliency": saliency, "smoothgrad": smoothgrad, "ig": integrated_gradients}
    if method not in functions:
        raise ValueError(f"unknown attribution method {method!r}; choose one of {', '.join(METHODS)}")
    return functions[method](model, x, target, **kwargs)


def total_variation(maps: torch.Tensor) -> torch.Tensor:
    """How speckled each (B, ..., H, W) map is: the summed absolute difference between
    neighbouring values of ``|map|``, after scaling each ``|map|`` to sum 1. (B,); 0 for a flat map."""
    magnitude = maps.abs().reshape(len(maps), -1, *maps.shape[-2:])  # (B, C, H, W)
    magnitude = magnitude / magnitude.flatten(1).sum(1).clamp_min(1e-12)[:, None, None, None]
    down = (magnitude[..., 1:, :] - magnitude[..., :-1, :]).abs().flatten(1).sum(1)
    across = (magnitude[..., :, 1:] - magnitude[..., :, :-1]).abs().flatten(1).sum(1)
    return down + across


def top_fraction_mask(maps: torch.Tensor, fraction: float) -> torch.Tensor:
    """True at the ``fraction`` of each example's values with the largest ``|map|``: (B, ...) bool."""
    flat = maps.abs().flatten(1)  # (B, D)
    k = max(1, round(fraction * flat.shape[1]))
    top = flat.topk(k, dim=1).indices  # (B, k)
    mask = torch.zeros_like(flat, dtype=torch.bool).scatter_(1, top, True)
    return mask.reshape(maps.shape)
