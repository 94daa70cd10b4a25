"""Optimizers and learning-rate schedules from the lectures, in one factory.

Schedules are functions of *progress* p in [0, 1] (fraction of training done) returning a
multiplier, so the same schedule drives a learning rate, a PPO clip range or anything else.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable

import torch
from torch import nn

from agents import fast as fast_path

OPTIMIZERS = ("sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam", "adamw", "radam")
SCHEDULES = ("constant", "linear", "cosine", "inv_sqrt")


def make_optimizer(
    params: Iterable[nn.Parameter],
    name: str = "adam",
    lr: float = 3e-4,
    weight_decay: float = 0.0,
    momentum: float = 0.9,
    eps: float | None = None,
    alpha: float = 0.99,
    fused: bool | None = None,
) -> torch.optim.Optimizer:
    """Build one of the course's optimizers by name.

    ``sgd`` plain SGD; ``momentum`` SGD with momentum; ``nesterov`` SGD with Nesterov momentum;
    ``adagrad``; ``rmsprop`` (``alpha`` = smoothing, ``eps`` default 1e-5 as in A2C);
    ``adam`` (``eps`` default 1e-5 as in PPO implementations); ``adamw``; ``radam`` (Adam with
    the variance of its early steps rectified, Liu et al. 2020: a warm-up without a schedule).

    Adam and AdamW use PyTorch's fused kernel (one kernel for all tensors; the same update up to
    rounding) unless ``fused=False``: on CPU it is ~4x faster than the per-tensor loop.
    """
    params = list(params)
    if fused is None:
        fused = all(
            isinstance(p, torch.Tensor) and p.device.type in ("cpu", "cuda") and p.is_floating_point() for p in params
        )
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, weight_decay=weight_decay)
    if name in ("momentum", "nesterov"):
        return torch.optim.SGD(params, lr=lr, momentum=momentum, nesterov=name == "nesterov", weight_decay=weight_decay)
    if name == "adagrad":
        return torch.optim.Adagrad(params, lr=lr, weight_decay=weight_decay, eps=eps or 1e-10)
    if name == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr, alpha=alpha, eps=eps or 1e-5, weight_decay=weight_decay)
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, eps=eps or 1e-5, weight_decay=weight_decay, fused=fused)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr, eps=eps or 1e-8, weight_decay=weight_decay or 0.01, fused=fused)
    if name == "radam":
        return torch.optim.RAdam(params, lr=lr, eps=eps or 1e-8, weight_decay=weight_decay)
    raise ValueError(f"unknown optimizer {name!r}; choose one of {', '.join(OPTIMIZERS)}")


def schedule(
    name: str = "constant", warmup: float = 0.0, final: float = 0.0, updates: int = 1000
) -> Callable[[float], float]:
    """A multiplier as a function of progress ``p`` in [0, 1].

    ``constant`` 1; ``linear`` decays from 1 to ``final``; ``cosine`` decays from 1 to ``final``
    along half a cosine; ``inv_sqrt`` is the course's 1/sqrt(t + 1) at update t = p * ``updates``
    (Adagrad's lecture). ``warmup`` (a fraction of training) ramps linearly from 0 first.
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
        if name == "inv_sqrt":
            return 1.0 / math.sqrt(q * updates + 1.0)
        return 1.0

    return multiplier


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    """Set the learning rate of every parameter group."""
    for group in optimizer.param_groups:
        group["lr"] = lr


def clip_grad_norm(params: list[nn.Parameter], max_norm: float | None) -> torch.Tensor | None:
    """Clip the global gradient norm to ``max_norm`` (no-op when None or <= 0).

    The same rule as ``torch.nn.utils.clip_grad_norm_`` (scale by ``min(1, max_norm / (norm + 1e-6))``),
    in two kernels when the gradients live in one tensor (see :func:`flatten_parameters`).
    Returns the norm before clipping as a tensor (no device sync), or None when not clipping.
    """
    if max_norm is None or max_norm <= 0:
        return None
    grads = [p.grad for p in params if p.grad is not None]
    if len(grads) == 1:
        norm = torch.linalg.vector_norm(grads[0])
        if grads[0].device.type == "cpu":  # reading the norm costs no device sync here: branch
            coef = max_norm / (float(norm) + 1e-6)
            if coef < 1.0:
                grads[0].mul_(coef)
        else:
            grads[0].mul_(torch.clamp(max_norm / (norm + 1e-6), max=1.0))
        return norm
    return nn.utils.clip_grad_norm_(params, max_norm, foreach=True)


def flat_step(
    params: list[nn.Parameter], optimizer: torch.optim.Optimizer, max_grad_norm: float | None, fast: bool = True
) -> None:
    """One update of an optimizer from :func:`make_flat_optimizer` (``params`` is its ``[flat]``):
    clip the gradient's norm, step (with ``fast``, :func:`agents.fast.optimizer_step`), and clear
    the flat gradient -- every weight's ``.grad`` is a view of it -- for the next backward."""
    clip_grad_norm(params, max_grad_norm)
    if fast:
        fast_path.optimizer_step(optimizer)
    else:
        with torch.inference_mode(False):  # state created here must outlive an update run in inference mode
            optimizer.step()
    params[0].grad.zero_()


def flatten_parameters(params: Iterable[nn.Parameter]) -> nn.Parameter:
    """Re-home ``params`` as views of one flat parameter, and their ``.grad`` as views of its grad;
    return the flat parameter (its ``.grad`` is allocated, zero).

    Give the optimizer ``[flat]`` and clip ``[flat]``: Adam, clipping and zeroing then cost one or
    two kernels instead of a few per tensor (the update is unchanged: Adam is elementwise and the
    clipping norm is global). Backward accumulates into the views, so clear gradients with
    ``flat.grad.zero_()`` or ``optimizer.zero_grad(set_to_none=False)`` -- setting a view's grad to
    None would detach it from the flat buffer. Call after moving the module to its device.
    """
    params = list(params)
    if not params:
        raise ValueError("flatten_parameters got no parameters")
    first = params[0]
    if any(p.dtype != first.dtype or p.device != first.device for p in params):
        raise ValueError("flatten_parameters needs every parameter on one device with one dtype")
    if len({id(p) for p in params}) != len(params):
        raise ValueError("flatten_parameters got the same parameter twice")
    with torch.no_grad():
        flat = nn.Parameter(torch.cat([p.detach().reshape(-1) for p in params]))
    flat.grad = torch.zeros_like(flat)
    offset = 0
    for p in params:
        n = p.numel()
        p.data = flat.data[offset : offset + n].view_as(p)
        p.grad = flat.grad[offset : offset + n].view_as(p)
        offset += n
    return flat


def fit_optimizer_state(optimizer: torch.optim.Optimizer, state: dict) -> dict:
    """``state`` (an optimizer ``state_dict``) in the layout ``optimizer`` loads. An optimizer on
    one flat tensor (:func:`make_flat_optimizer`) given the per-tensor state of the same weights
    -- a checkpoint written before they were flattened -- gets that state concatenated in
    parameter order, which is the flat layout; anything else comes back unchanged, for
    ``load_state_dict`` to accept or refuse."""
    groups, saved_groups = optimizer.param_groups, state.get("param_groups", [])
    if not (len(groups) == 1 and len(groups[0]["params"]) == 1 and len(saved_groups) == 1):
        return state
    ids, flat_numel = saved_groups[0]["params"], groups[0]["params"][0].numel()
    per_tensor = [state["state"].get(i) for i in ids]
    if len(ids) < 2 or any(s is None for s in per_tensor) or len({tuple(sorted(s)) for s in per_tensor}) != 1:
        return state  # a tensor never stepped has no state: its size, and so the layout, is unknown
    flat = {}
    for key, first in per_tensor[0].items():
        values = [s[key] for s in per_tensor]
        if not isinstance(first, torch.Tensor):
            return state
        if first.dim() == 0:  # a step count: one for the flat tensor, so it must be the same for all
            if any(not torch.equal(v, first) for v in values):
                return state
            flat[key] = first.clone()  # not shared with whatever still holds the saved state
        else:
            flat[key] = torch.cat([v.reshape(-1) for v in values])
            if flat[key].numel() != flat_numel:
                return state
    return {"state": {0: flat}, "param_groups": [{**saved_groups[0], "params": [0]}]}


def make_flat_optimizer(module: nn.Module, name: str, lr: float) -> tuple[list[nn.Parameter], torch.optim.Optimizer]:
    """Flatten ``module``'s weights into one tensor (see :func:`flatten_parameters`) and build the
    named optimizer on it: the optimizer step, clipping and zeroing are then a few kernels per
    update instead of a few per weight tensor. Returns ``([flat], optimizer)``."""
    order = module.flat_parameters() if hasattr(module, "flat_parameters") else module.parameters()
    params = [flatten_parameters(order)]
    return params, make_optimizer(params, name, lr)
