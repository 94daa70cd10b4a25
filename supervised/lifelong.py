"""Lifelong learning's methods on a trained model (HW14): parameter importances, the quadratic
penalty they weigh, and the accuracy matrix with its summaries.

After task k, a regularised learner keeps the weights theta*_k and an importance Omega_k per
parameter, and from then on adds ``lamb * sum_k sum_i Omega_k,i (theta_i - theta*_k,i)^2`` to
its loss, so the weights that mattered for old tasks move little:

- EWC (Kirkpatrick et al. 2017): the diagonal Fisher information, E_x E_{y ~ p(y|x)} [(d log p(y|x) / d theta)^2]
  (y drawn from the model, one per example);
- MAS (Aljundi et al. 2018): E_x |d ||f(x)||^2 / d theta|, no labels needed;
- SI (Zenke et al. 2017): the path integral of -grad * step while training the task, divided by
  the squared total move plus xi (computed online by the learner; :func:`si_importance`);
- SCP (Kolouri et al. 2020): E_l [(d xi_l . mean_x f(x) / d theta)^2] over random unit
  directions xi_l of the output space (the sliced Cramer distance's quadratic form).

The per-sample gradients of EWC and MAS are one ``torch.func.vmap`` of ``grad``
over the examples, not a Python loop; SCP's Jacobian is one ``jacrev``.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.func import functional_call, grad, jacrev, vmap

Params = dict[str, torch.Tensor]
"""A model's parameters by name (``dict(model.named_parameters())``)."""


def _detached(model: nn.Module) -> Params:
    return {name: p.detach() for name, p in model.named_parameters()}


CHUNK = 8
"""Examples per vmap call: the per-sample gradients of a chunk take CHUNK x (number of weights)
floats. All 1258 digits at once take 1.6 GB for a 512-512 MLP; on one CPU thread chunks of 8 ran
fastest of 8, 32, 64 and 1258 (bench/vmap.py), still behind a per-example loop there."""


def _mean_over_chunks(per_sample_grads, n: int, transform) -> Params:
    """Mean over n examples of ``transform(per-sample gradient)``, CHUNK examples per vmap call:
    ``per_sample_grads(slice)`` gives name -> (chunk, *shape)."""
    total: Params = {}
    for start in range(0, n, CHUNK):
        grads = per_sample_grads(slice(start, start + CHUNK))  # name -> (chunk, *shape)
        for name, g in grads.items():
            part = transform(g).sum(dim=0)
            total[name] = total[name] + part if name in total else part
    return {name: value / n for name, value in total.items()}


def ewc_importance(
    model: nn.Module, x: torch.Tensor, labels: torch.Tensor | None = None, generator: torch.Generator | None = None
) -> Params:
    """EWC's diagonal Fisher of a classifier ``model`` (logits (B, C)) at inputs ``x`` (N, ...):
    the mean over examples of (d log p(y|x) / d theta)^2. The labels y are drawn from the model's
    own p(.|x) (``generator``), which makes this an unbiased estimate of the true Fisher
    E_x sum_c p_c (d log p_c / d theta)^2; ``labels`` (N,) fixes them instead (the empirical
    Fisher with the true labels, or HW14's argmax labels)."""
    params = _detached(model)
    if labels is None:
        with torch.no_grad():
            probs = torch.softmax(model(x), dim=-1)  # (N, C)
        labels = torch.multinomial(probs.cpu(), 1, generator=generator)[:, 0].to(x.device)  # (N,)

    def log_likelihood(p: Params, one_x: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
        logits = functional_call(model, p, (one_x[None],))  # (1, C)
        return -torch.nn.functional.cross_entropy(logits, label[None])

    per_sample = vmap(grad(log_likelihood), in_dims=(None, 0, 0))
    return _mean_over_chunks(lambda rows: per_sample(params, x[rows], labels[rows]), len(x), torch.square)


def mas_importance(model: nn.Module, x: torch.Tensor) -> Params:
    """MAS's importance: mean over examples of |d ||f(x)||_2^2 / d theta| (per-sample gradients)."""
    params = _detached(model)

    def squared_norm(p: Params, one_x: torch.Tensor) -> torch.Tensor:
        return functional_call(model, p, (one_x[None],)).pow(2).sum()

    per_sample = vmap(grad(squared_norm), in_dims=(None, 0))
    return _mean_over_chunks(lambda rows: per_sample(params, x[rows]), len(x), torch.abs)


def scp_importance(model: nn.Module, x: torch.Tensor, n_slices: int, generator: torch.Generator) -> Params:
    """SCP's importance: mean over ``n_slices`` random unit directions xi of the output space of
    (d xi . mean_x f(x) / d theta)^2. The gradient along xi is xi^T J, with J = d mean_x f / d
    theta the (C, *shape) Jacobian of the mean output: one ``jacrev`` (C backward passes, vmapped),
    then the directions are a matrix product."""
    params = _detached(model)

    def mean_output(p: Params) -> torch.Tensor:
        return functional_call(model, p, (x,)).mean(dim=0)  # (C,)

    jacobian = jacrev(mean_output)(params)  # name -> (C, *shape)
    n_out = next(iter(jacobian.values())).shape[0]
    directions = torch.randn(n_slices, n_out, generator=generator).to(x.device)  # (L, C)
    directions = directions / directions.norm(dim=1, keepdim=True)
    importance = {}
    for name, jac in jacobian.items():
        along = directions @ jac.reshape(n_out, -1)  # (L, P): the gradient of xi_l . mean f
        importance[name] = along.pow(2).mean(dim=0).reshape(jac.shape[1:])
    return importance


def si_importance(path_integral: Params, start: Params, end: Params, xi: float) -> Params:
    """SI's importance of one task: omega / ((theta_end - theta_start)^2 + xi), where omega is
    the running sum of -gradient * step over the task's updates (clamped at 0)."""
    return {name: (path_integral[name] / ((end[name] - start[name]).pow(2) + xi)).clamp(min=0) for name in end}


def quadratic_penalty(params: dict[str, torch.Tensor], anchors: list[tuple[Params, Params]]) -> torch.Tensor:
    """sum over past tasks k and parameters i of Omega_k,i (theta_i - theta*_k,i)^2; ``anchors``
    is a list of (importance, weights after the task)."""
    total = next(iter(params.values())).new_zeros(())
    for importance, old in anchors:
        for name, p in params.items():
            total = total + (importance[name] * (p - old[name]).pow(2)).sum()
    return total


# ----------------------------------------------------------------------------- accuracy matrix
def average_accuracy(matrix: np.ndarray) -> float:
    """Mean accuracy over every task after the last one is learned: mean_j R[T-1, j]."""
    return float(np.mean(np.asarray(matrix)[-1]))


def backward_transfer(matrix: np.ndarray) -> float:
    """BWT (Lopez-Paz & Ranzato 2017): mean_{j < T-1} (R[T-1, j] - R[j, j]); negative = forgetting."""
    matrix = np.asarray(matrix)
    n = len(matrix)
    if n < 2:
        return 0.0
    return float(np.mean([matrix[-1, j] - matrix[j, j] for j in range(n - 1)]))
