"""Speed machinery for the course's small actor-critics, behind one switch: the ``fast`` config field
(``--set fast=false`` turns all of it off). Nothing here changes what is learned; the readable
path (``nn.Sequential`` bodies, ``loss.backward()``, ``optimizer.step()``, torch acting) computes
the same numbers, and tests/agents/test_fast.py holds the two equal.

The course's policies are two small MLPs (actor and critic, 64x64 tanh) reading the same
observation. Run as ``nn.Sequential`` they cost ~40 tiny kernels and autograd nodes per update, and
on the CPU the per-op overhead, not the arithmetic, is the time. So, with ``fast``:

* **stacked bodies**: the K bodies' layers (K = 2: actor and critic; 1: one body) live in stacked
  storage, ``(K, out, in)`` per layer, and run as batched matmuls -- block k is exactly body k's
  ``nn.Linear`` (:func:`stack_bodies`; the Linear modules stay the parameters' home);
* **hand-written backward**: the network runs without autograd (:func:`forward_leaves`); the loss
  is built by autograd on its outputs (the logits or means, the values), so ``loss.backward()``
  gives d loss / d outputs, and :func:`backward` takes it from there through the bodies by hand;
* **numpy acting**: acting in a few envs calls numpy on views of the weights (:func:`act_numpy`);
* **a fused optimizer step**: :func:`optimizer_step` calls Adam's fused kernel directly, without
  ``Optimizer.step``'s Python bookkeeping.
* the array CartPole (:mod:`envs.native`) is switched by the same flag (``vectorization`` "auto"
  only with ``fast``; see :meth:`agents.base.Agent.open_envs`).

Private torch APIs (``torch._fused_adam_``, ``torch._foreach_add_``, ``torch.ops.aten.*_backward``)
are looked up once below; each has a public fallback, and :data:`PATHS` records which one ran.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

PATHS: dict[str, str] = {}
"""The implementation each kind of operation last ran with ("private" or "public"), per kind:
``adam``, ``foreach_add``, ``activation_backward``. Tests read it to know which path ran."""


def _aten(name: str):
    """``torch.ops.aten.<name>`` or None where this torch lacks it."""
    try:
        return getattr(torch.ops.aten, name)
    except (AttributeError, RuntimeError):
        return None


FUSED_ADAM = getattr(torch, "_fused_adam_", None)
"""Private: Adam's fused CPU/CUDA kernel (fallback: ``optimizer.step()``)."""
FOREACH_ADD = getattr(torch, "_foreach_add_", None)
"""Private: in-place add over lists of tensors (fallback: one ``add_`` per tensor)."""
TANH_BACKWARD = _aten("tanh_backward")
"""Private: ``grad * (1 - y^2)`` in one kernel (fallback: the formula)."""
THRESHOLD_BACKWARD = _aten("threshold_backward")
"""Private: ``grad * (y > 0)`` in one kernel (fallback: the formula)."""

NUMPY_ACT_ROWS = 64
"""Largest batch :func:`act_numpy` serves (acting in up to this many envs)."""

SIGMOID_TANH_ROWS = 64
"""Batches of at least this many rows compute a CPU tanh as 2 sigmoid(2x) - 1: torch.tanh is not
vectorised on the CPU (about 5x slower than torch.sigmoid on a (256, 64) tensor), and the 2 folds
into the matmul. Smaller batches call tanh, one kernel instead of three."""


# ----------------------------------------------------------------------------- private ops, with fallbacks


def activation_backward(grad: torch.Tensor, y: torch.Tensor, act: str) -> torch.Tensor:
    """Gradient through tanh or relu from its output ``y`` (tanh' = 1 - y^2, relu' = [y > 0])."""
    op = THRESHOLD_BACKWARD if act == "relu" else TANH_BACKWARD
    if op is not None:
        PATHS["activation_backward"] = "private"
        return op(grad, y, 0.0) if act == "relu" else op(grad, y)
    PATHS["activation_backward"] = "public"
    if act == "relu":
        return grad * (y > 0)
    return grad * (1.0 - y * y)


def add_grads(tensors: list[torch.Tensor], grads: list[torch.Tensor]) -> None:
    """``t.grad += g`` for each pair, as autograd accumulates (a missing ``.grad`` becomes ``g``)."""
    existing = [(t.grad, g) for t, g in zip(tensors, grads) if t.grad is not None]
    for t, g in zip(tensors, grads):
        if t.grad is None:
            t.grad = g.detach().clone()
    if not existing:
        return
    if FOREACH_ADD is not None:
        PATHS["foreach_add"] = "private"
        FOREACH_ADD([e[0] for e in existing], [e[1] for e in existing])
    else:
        PATHS["foreach_add"] = "public"
        for total, g in existing:
            total.add_(g)


def optimizer_step(optimizer: torch.optim.Optimizer) -> None:
    """``optimizer.step()``; for fused Adam or plain RMSprop (no momentum, centering or weight decay)
    on one (flat) CPU tensor, the same kernels without the ~50 us of Python bookkeeping around
    them (hooks, grouping by device) -- which costs more than the update itself for the course's
    small networks. Anything else, or a torch without ``torch._fused_adam_``: ``step()``."""
    if type(optimizer) is torch.optim.Adam and len(optimizer.param_groups) == 1 and FUSED_ADAM is not None:
        group = optimizer.param_groups[0]
        params = group["params"]
        state = optimizer.state.get(params[0]) if len(params) == 1 else None
        plain = group["fused"] and not (
            group["amsgrad"] or group["maximize"] or group["capturable"] or group["differentiable"]
            or group.get("decoupled_weight_decay", False) or isinstance(group["lr"], torch.Tensor)
        )  # fmt: skip
        if plain and state and params[0].grad is not None and params[0].device.type == "cpu":
            beta1, beta2 = group["betas"]
            state["step"].add_(1)  # as torch.optim.Adam's fused path: step, then the kernel
            FUSED_ADAM(
                [params[0]], [params[0].grad], [state["exp_avg"]], [state["exp_avg_sq"]], [], [state["step"]],
                amsgrad=False, lr=group["lr"], beta1=float(beta1), beta2=float(beta2),
                weight_decay=group["weight_decay"], eps=group["eps"], maximize=False,
            )  # fmt: skip
            PATHS["adam"] = "private"
            return
    if type(optimizer) is torch.optim.Adam:
        PATHS["adam"] = "public"
    if type(optimizer) is torch.optim.RMSprop and len(optimizer.param_groups) == 1:
        group = optimizer.param_groups[0]
        params = group["params"]
        state = optimizer.state.get(params[0]) if len(params) == 1 else None
        plain = not (
            group["momentum"] or group["centered"] or group["maximize"] or group["capturable"]
            or group["differentiable"] or group["weight_decay"] or isinstance(group["lr"], torch.Tensor)
        )  # fmt: skip
        param = params[0]
        if plain and state and param.grad is not None and param.device.type == "cpu" and not param.is_complex():
            # torch.optim.RMSprop's single-tensor update, op for op (so bit-identical to step())
            grad, square_avg, alpha = param.grad, state["square_avg"], group["alpha"]
            state["step"] += 1
            square_avg.mul_(alpha).addcmul_(grad, grad, value=1 - alpha)
            param.detach().addcdiv_(grad, square_avg.sqrt().add_(group["eps"]), value=-group["lr"])
            return
    with torch.inference_mode(False):  # state created here must outlive an update run in inference mode
        optimizer.step()


# ----------------------------------------------------------------------------- stacked bodies


def body_linears(policy: nn.Module) -> list[list[nn.Linear]]:
    """The ``nn.Linear`` layers of each body, K lists (actor, then critic when it has its own)."""
    bodies = [policy.pi_body]
    if policy.has_critic and not policy.shared:
        bodies.append(policy.vf_body)
    return [[m for m in net if isinstance(m, nn.Linear)] for net in bodies]


def stack_bodies(policy: nn.Module) -> None:
    """Re-home the bodies' weights so layer l of all K bodies is one contiguous ``(K, out, in)``
    block (biases ``(K, out)``), the layout the batched matmuls read without a copy. The values
    and the parameters (``pi_body.0.weight``, ...) are unchanged; only where they live moves."""
    bodies = body_linears(policy)
    with torch.no_grad():
        for layer in zip(*bodies):
            for name in ("weight", "bias"):
                stacked = torch.stack([getattr(linear, name).detach() for linear in layer])
                for k, linear in enumerate(layer):
                    getattr(linear, name).data = stacked[k]


def parameter_order(policy: nn.Module) -> list[nn.Parameter]:
    """The policy's parameters in the order that keeps stacked layers contiguous once flattened
    (:func:`agents.optim.flatten_parameters`): every body's layer-0 weight, then layer 1's, ...,
    then the biases the same way, then the heads'."""
    bodies = body_linears(policy)
    order = [getattr(linear, name) for name in ("weight", "bias") for layer in zip(*bodies) for linear in layer]
    seen = {id(p) for p in order}
    return order + [p for p in policy.parameters() if id(p) not in seen]


def _stacked(tensors: list[torch.Tensor]) -> torch.Tensor | None:
    """A ``(K, *shape)`` view of K same-shaped tensors that lie back to back in one storage, else None."""
    first = tensors[0].detach()
    if not first.is_contiguous():
        return None
    step = first.numel() * first.element_size()
    for k, t in enumerate(tensors):
        if t.shape != first.shape or not t.is_contiguous() or t.data_ptr() != first.data_ptr() + k * step:
            return None
    return first.as_strided((len(tensors), *first.shape), (first.numel(), *first.stride()))


def fused_tensors(policy: nn.Module) -> list[torch.Tensor] | None:
    """What the fused forward reads, in order: stacked body weights ``(K, out, in)`` per layer,
    stacked biases ``(K, out)``, the actor head's weight and bias, then the critic head's. None
    when the bodies' storage is not stacked (then the readable path runs)."""
    linears = policy._fast_linears
    key = tuple(p.data_ptr() for p in linears)
    cached = policy.__dict__.get("_fast_cache")
    if cached is not None and cached[0] == key:
        return cached[1]
    bodies = body_linears(policy)
    tensors = []
    for name in ("weight", "bias"):
        for layer in zip(*bodies):
            view = _stacked([getattr(linear, name) for linear in layer])
            if view is None:
                return None
            tensors.append(view)
    heads = (policy.head.linear, policy.vf_head) if policy.has_critic else (policy.head.linear,)
    for linear in heads:
        tensors += (linear.weight.detach(), linear.bias.detach())
    policy.__dict__["_fast_cache"] = (key, tensors)
    return tensors


def _act_scale(act: str, x: torch.Tensor) -> float:
    """What the matmul before :func:`_hidden_act` multiplies its result by (2 for the CPU tanh
    computed through a sigmoid)."""
    return 2.0 if act == "tanh" and not x.is_cuda and x.shape[0] >= SIGMOID_TANH_ROWS else 1.0


def _hidden_act(z: torch.Tensor, act: str, scale: float) -> torch.Tensor:
    """In-place activation of a pre-activation multiplied by ``scale`` (:func:`_act_scale`)."""
    if act == "relu":
        return z.relu_()
    if scale == 1.0:  # GPUs have a fast tanh, and small CPU batches pay per kernel
        return z.tanh_()
    return z.sigmoid_().mul_(2.0).sub_(1.0)  # tanh(x) = 2 sigmoid(2x) - 1, z = 2x


def fused_forward(x: torch.Tensor, act: str, n_layers: int, tensors: list[torch.Tensor]):
    """Forward of the stacked bodies and heads on body input ``x`` ``(B, D)``, without autograd;
    returns (params ``(B, n)``, values ``(B,)`` or None, every hidden layer's output ``(K, B, h)``)."""
    weights, biases = tensors[:n_layers], tensors[n_layers : 2 * n_layers]
    heads = tensors[2 * n_layers :]
    k = weights[0].shape[0]
    scale = _act_scale(act, x)
    # layer 0: the K blocks read the same input (expanded, not copied); every hidden output is a
    # contiguous (K, B, h), the layout the batched matmuls and the backward's kernels are fastest on
    ys = [_hidden_act(torch.baddbmm(biases[0].unsqueeze(1), x.expand(k, *x.shape), weights[0].transpose(1, 2),
                                    beta=scale, alpha=scale), act, scale)]  # fmt: skip
    for w, b in zip(weights[1:], biases[1:]):  # (K, out, in) blocks: (K, B, in) -> (K, B, out)
        z = torch.baddbmm(b.unsqueeze(1), ys[-1], w.transpose(1, 2), beta=scale, alpha=scale)
        ys.append(_hidden_act(z, act, scale))
    last = ys[-1]
    params = torch.addmm(heads[1], last[0], heads[0].t())  # (B, n) logits or means
    values = torch.addmm(heads[3], last[k - 1], heads[2].t()).squeeze(-1) if len(heads) == 4 else None  # (B,)
    return params, values, ys


def fused_backward(act, n_layers, x, tensors, ys, grad_params, grad_values) -> list[torch.Tensor]:
    """Backward of :func:`fused_forward` (``tensors`` as it read them, ``ys`` its hidden outputs)
    given d loss / d params ``(B, n)`` and d loss / d values ``(B,)``: one gradient per tensor, in order."""
    weights = tensors[:n_layers]
    pi_w = tensors[2 * n_layers]
    vf_w = tensors[2 * n_layers + 2] if len(tensors) > 2 * n_layers + 2 else None
    k = ys[-1].shape[0]
    last = ys[-1]
    # heads: (B, n) -> grads of head weights and of the last hidden layer (K, B, h)
    head_grads = [grad_params.t().mm(last[0]), grad_params.sum(0)]
    if k == 1:
        grad_y = grad_params.mm(pi_w)
        if vf_w is not None:
            grad_y.addmm_(grad_values.unsqueeze(1), vf_w)
        grad_y = grad_y.unsqueeze(0)
    else:
        grad_y = torch.empty_like(last, memory_format=torch.contiguous_format)
        torch.mm(grad_params, pi_w, out=grad_y[0])
        torch.mm(grad_values.unsqueeze(1), vf_w, out=grad_y[1])
    if vf_w is not None:
        head_grads += [grad_values.unsqueeze(0).mm(last[k - 1]), grad_values.sum(0, keepdim=True)]
    weight_grads, bias_grads = [None] * n_layers, [None] * n_layers
    for i in range(n_layers - 1, 0, -1):
        grad_z = activation_backward(grad_y, ys[i], act)  # (K, B, out)
        weight_grads[i] = torch.bmm(grad_z.transpose(1, 2), ys[i - 1])  # (K, out, in)
        bias_grads[i] = grad_z.sum(1)
        grad_y = torch.bmm(grad_z, weights[i])  # (K, B, in)
    grad_z0 = activation_backward(grad_y, ys[0], act)  # (K, B, h0)
    # (D, B) @ (B, h0) per block, then transposed: MKL is slow for (out, B) @ (B, in) with a tiny
    # ``in`` (obs of 4 dims: ~90 us instead of ~8 us), and fast for its transpose
    x_t = x.t()
    weight_grads[0] = torch.bmm(x_t.expand(k, *x_t.shape), grad_z0).transpose(1, 2).contiguous()
    bias_grads[0] = grad_z0.sum(1)
    return [*weight_grads, *bias_grads, *head_grads]


# ----------------------------------------------------------------------------- the update's forward and backward


def forward_no_grad(policy: nn.Module, x: torch.Tensor):
    """``(params, values)`` of the stacked network on body input ``x``, for code that records no
    autograd (acting); None when the bodies are not stacked."""
    tensors = fused_tensors(policy)
    if tensors is None:
        return None
    params, values, ys = fused_forward(x, policy.bodies_act, policy.n_layers, tensors)
    if policy.sde:
        params = torch.cat([params, ys[-1][0]], dim=1)
    return params, values


def forward_leaves(policy: nn.Module, x: torch.Tensor):
    """The network's outputs on body input ``x`` as autograd leaves: ``(params, values, saved)``.
    A loss built on them records only its own small graph; :func:`backward` continues from there.
    None when the bodies are not stacked (the caller then runs the readable forward)."""
    tensors = fused_tensors(policy)
    if tensors is None:
        return None
    # inference mode skips autograd's per-op bookkeeping (version counters, views), about a tenth
    # of the network's cost at these sizes; the outputs are then copied out as ordinary tensors
    with torch.inference_mode():
        params, values, ys = fused_forward(x, policy.bodies_act, policy.n_layers, tensors)
        if policy.sde:  # gSDE's parameters end with the actor's last hidden features (no gradient)
            params = torch.cat([params, ys[-1][0]], dim=1)
    params = params.clone().requires_grad_(True)
    if values is not None:
        values = values.clone().requires_grad_(True)
    return params, values, (x, tensors, ys)


def backward(policy: nn.Module, loss: torch.Tensor, params, values, saved) -> None:
    """``loss.backward()`` for outputs from :func:`forward_leaves`: autograd through the loss's graph
    (it also reaches parameters the loss reads directly, e.g. a Gaussian's ``log_std``) gives
    d loss / d outputs, then the bodies' and heads' gradients are added to their ``.grad`` by hand."""
    loss.backward()
    x, tensors, ys = saved
    with torch.inference_mode():
        grad_params = params.grad if params.grad is not None else torch.zeros_like(params)
        if policy.sde:  # the bodies produced the mean; phi's columns carry no gradient
            grad_params = grad_params[:, : policy.head.action_dim].contiguous()
        if values is None or values.grad is None:
            grad_values = torch.zeros(len(params), dtype=params.dtype, device=params.device)
        else:
            grad_values = values.grad
        grads = fused_backward(policy.bodies_act, policy.n_layers, x, tensors, ys, grad_params, grad_values)
        stacked = stacked_grads(policy)
        if stacked is not None:  # the bodies' .grad lie stacked too (a flat gradient): add in place
            add_grads(stacked, grads)
        else:  # stacked (K, ...) gradients -> each body's Linear, in the order of grad_targets
            sources = [g[k] for g in grads[: 2 * policy.n_layers] for k in range(len(g))]
            add_grads(grad_targets(policy), sources + grads[2 * policy.n_layers :])


class _GradHolder:
    """Stands in for a parameter in :func:`add_grads`: ``.grad`` is a stacked view of the bodies' gradients."""

    def __init__(self, grad: torch.Tensor):
        self.grad = grad


def stacked_grads(policy: nn.Module) -> list | None:
    """Holders of ``(K, ...)`` views of the bodies' ``.grad`` (then the heads' parameters), in
    :func:`fused_backward`'s order, when those gradients lie back to back (a flat optimizer's
    gradient); else None."""
    targets = grad_targets(policy)
    key = tuple(None if p.grad is None else p.grad.data_ptr() for p in targets)
    cached = policy.__dict__.get("_stacked_grads")
    if cached is not None and cached[0] == key:
        return cached[1]
    if None in key:
        return None
    holders, i = [], 0
    n_bodies = len(body_linears(policy))
    n_body_params = 2 * policy.n_layers * n_bodies
    while i < n_body_params:
        view = _stacked([p.grad for p in targets[i : i + n_bodies]])
        if view is None:
            return None
        holders.append(_GradHolder(view))
        i += n_bodies
    holders += targets[n_body_params:]
    policy.__dict__["_stacked_grads"] = (key, holders)
    return holders


def grad_targets(policy: nn.Module) -> list[torch.Tensor]:
    """The parameters :func:`backward` adds gradients to, in the order of :func:`fused_backward`'s
    results with each stacked ``(K, ...)`` gradient split into its K bodies (kept per network)."""
    cached = policy.__dict__.get("_grad_targets")
    if cached is None or cached[0] != id(policy):  # a deep copy builds its own
        bodies = body_linears(policy)
        targets = [getattr(linear, name) for name in ("weight", "bias") for layer in zip(*bodies) for linear in layer]
        heads = (policy.head.linear, policy.vf_head) if policy.has_critic else (policy.head.linear,)
        targets += [p for linear in heads for p in (linear.weight, linear.bias)]
        cached = policy.__dict__["_grad_targets"] = (id(policy), targets)
    return cached[1]


# ----------------------------------------------------------------------------- acting in numpy
#
# Collecting a rollout calls the policy once per vector step on a handful of observations,
# between env steps. At that size every torch kernel launch (~3-5 us, more with the env's code
# evicting torch's from the caches) outweighs its arithmetic, so the stacked MLP on the CPU acts
# in numpy on views of its own weights (no copy: an optimizer step is seen at once), with the
# learner's numpy generator for sampling. Same network, same distribution, ~4x fewer us.


def numpy_acting(policy: nn.Module, obs: np.ndarray) -> bool:
    """Whether :func:`act_numpy` serves this batch: a fast policy on the CPU with stacked bodies,
    flat float observations, at most ``NUMPY_ACT_ROWS`` of them."""
    return (
        policy.fused and policy.head.linear.weight.device.type == "cpu" and isinstance(obs, np.ndarray)
        and obs.dtype == np.float32 and obs.ndim == 2 and len(obs) <= NUMPY_ACT_ROWS
        and fused_tensors(policy) is not None
    )  # fmt: skip


def _numpy_views(policy: nn.Module) -> list[np.ndarray]:
    """Numpy views of :func:`fused_tensors`, made again only when a tensor's storage moved."""
    tensors = fused_tensors(policy)
    key = tuple(t.data_ptr() for t in tensors)
    cached = policy.__dict__.get("_numpy_cache")
    if cached is None or cached[0] != key:
        cached = (key, [t.numpy() for t in tensors])
        policy.__dict__["_numpy_cache"] = cached
    return cached[1]


def _numpy_forward(policy: nn.Module, obs: np.ndarray, values: bool = True):
    """The fused forward in numpy: (params (B, n), values (B,) or None, the actor's last hidden
    features (B, h)); for gSDE the params are the mean alone."""
    tensors = _numpy_views(policy)
    n_layers, relu = policy.n_layers, policy.bodies_act == "relu"
    y = obs if policy.obs_rms is None else policy.obs_rms.normalize_numpy(obs)
    for w, b in zip(tensors[:n_layers], tensors[n_layers : 2 * n_layers]):  # (K, out, in), (K, out)
        y = np.matmul(y, w.transpose(0, 2, 1))
        y += b[:, None, :]
        if relu:
            np.maximum(y, 0.0, out=y)
        else:
            np.tanh(y, out=y)
    heads = tensors[2 * n_layers :]
    params = y[0] @ heads[0].T + heads[1]
    value = (y[-1] @ heads[2].T)[:, 0] + heads[3][0] if values and len(heads) == 4 else None
    return params, value, y[0]


def act_numpy(
    policy: nn.Module, obs: np.ndarray, rng: np.random.Generator, deterministic: bool = False
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``policy.act`` for a numpy batch (:func:`numpy_acting` must hold): actions, their log-probs
    and the values (zeros without a critic), as numpy arrays."""
    params, values, phi = _numpy_forward(policy, obs)
    head = policy.head
    if policy.discrete:
        shifted = params - params.max(axis=1, keepdims=True)
        log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        if deterministic:
            actions = log_p.argmax(axis=1)
        else:  # inverse CDF: the first action whose cumulative probability passes u
            cdf = np.exp(log_p).cumsum(axis=1)
            actions = (cdf < rng.random((len(obs), 1), dtype=np.float32) * cdf[:, -1:]).sum(axis=1)
        log_prob = log_p[np.arange(len(actions)), actions]
    elif policy.sde:  # GSDEHead's formulas: noise phi E with the held matrices, per-sample std
        std = np.sqrt((phi * phi) @ np.exp(2.0 * head.log_std.detach().numpy()) + np.float32(head.EPSILON))
        if deterministic:
            actions = params
        else:
            e = head.exploration.numpy()  # (n, h, d)
            noise = np.matmul(phi[:, None, :], e)[:, 0] if len(e) == len(phi) else phi @ e[0]
            actions = params + noise
        z = (actions - params) / std
        log_prob = (-0.5 * z * z - np.log(std) - np.float32(0.5 * math.log(2 * math.pi))).sum(axis=1)
    else:
        log_std = head.log_std.detach().numpy()
        if deterministic:
            actions = params
        else:
            actions = params + rng.standard_normal(params.shape, dtype=np.float32) * np.exp(log_std)
        z = (actions - params) * np.exp(-log_std)
        log_prob = (-0.5 * z * z - log_std - np.float32(0.5 * math.log(2 * math.pi))).sum(axis=1)
    if values is None:
        values = np.zeros(len(obs), dtype=np.float32)
    return actions, log_prob.astype(np.float32, copy=False), values


def value_numpy(policy: nn.Module, obs: np.ndarray) -> np.ndarray:
    """``policy.value`` for a numpy batch (:func:`numpy_acting` must hold); zeros without a critic."""
    values = _numpy_forward(policy, obs)[1]
    return np.zeros(len(obs), dtype=np.float32) if values is None else values
