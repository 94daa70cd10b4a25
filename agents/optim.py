"""Optimizers and learning-rate schedules from the lectures, in one factory.

Schedules are functions of *progress* p in [0, 1] (fraction of training done) returning a
multiplier, so the same schedule drives a learning rate, a PPO clip range or anything else.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable

import torch
from torch import nn

OPTIMIZERS = ("sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam", "adamw")
SCHEDULES = ("constant", "linear", "cosine")


def make_optimizer(
    params: Iterable[nn.Parameter],
    name: str = "adam",
    lr: float = 3e-4,
    weight_decay: float = 0.0,
    momentum: float = 0.9,
    eps: float | None = None,
    alpha: float = 0.99,
) -> torch.optim.Optimizer:
    """Build one of the course's optimizers by name.

    ``sgd`` plain SGD; ``momentum`` SGD with momentum; ``nesterov`` SGD with Nesterov momentum;
    ``adagrad``; ``rmsprop`` (``alpha`` = smoothing, ``eps`` default 1e-5 as in A2C);
    ``adam`` (``eps`` default 1e-5 as in PPO implementations); ``adamw``.
    """
    params = list(params)
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, weight_decay=weight_decay)
    if name in ("momentum", "nesterov"):
        return torch.optim.SGD(
            params, lr=lr, momentum=momentum, nesterov=name == "nesterov", weight_decay=weight_decay
        )
    if name == "adagrad":
        return torch.optim.Adagrad(params, lr=lr, weight_decay=weight_decay, eps=eps or 1e-10)
    if name == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr, alpha=alpha, eps=eps or 1e-5, weight_decay=weight_decay)
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, eps=eps or 1e-5, weight_decay=weight_decay)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr, eps=eps or 1e-8, weight_decay=weight_decay or 0.01)
    raise ValueError(f"unknown optimizer {name!r}; choose one of {', '.join(OPTIMIZERS)}")


def schedule(name: str = "constant", warmup: float = 0.0, final: float = 0.0) -> Callable[[float], float]:
    """A multiplier as a function of progress ``p`` in [0, 1].

    ``constant`` 1; ``linear`` decays from 1 to ``final``; ``cosine`` decays from 1 to ``final``
    along half a cosine. ``warmup`` (a fraction of training) ramps linearly from 0 first.
    """
    if name not in SCHEDULES:
        raise ValueError(f"unknown schedule {name!r}; choose one of {', '.join(SCHEDULES)}")
    if not 0.0 <= warmup < 1.0:
        raise ValueError(f"warmup must be a fraction of training in [0, 1), got {warmup}")

    def multiplier(p: float) -> float:
        p = min(max(p, 0.0), 1.0)
        if warmup > 0 and p < warmup:
            return p / warmup
        q = (p - warmup) / (1.0 - warmup)  # progress after warm-up
        if name == "linear":
            return 1.0 - (1.0 - final) * q
        if name == "cosine":
            return final + (1.0 - final) * 0.5 * (1.0 + math.cos(math.pi * q))
        return 1.0

    return multiplier


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    """Set the learning rate of every parameter group."""
    for group in optimizer.param_groups:
        group["lr"] = lr


def clip_grad_norm(params: list[nn.Parameter], max_norm: float | None) -> torch.Tensor | None:
    """Clip the global gradient norm to ``max_norm`` (no-op when None or <= 0).

    Returns the norm before clipping as a tensor (no device sync), or None when not clipping.
    """
    if max_norm is None or max_norm <= 0:
        return None
    return nn.utils.clip_grad_norm_(params, max_norm, foreach=True)
