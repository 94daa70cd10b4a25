"""torch.func's vmap against a Python loop, for the two places that use it.

    .venv/bin/python -m bench.vmap
    .venv/bin/python -m bench.vmap --repeats 20 --device cuda

- MAML's meta-gradient over a meta-batch of 25 sine tasks (MLP 40-40, one inner step, second
  order): agents.maml.maml_loss (one vmap over the tasks) against the same loss summed by a
  Python loop over tasks (agents.maml.adapt per task), each then backpropagated;
- EWC's Fisher and MAS's importance over the 1258 digits train examples (MLP 64-512-512-10):
  supervised.lifelong's per-sample gradients with vmap against a per-example autograd loop
  (zero_grad, backward, accumulate the squared or absolute gradient), HW14's way.

Prints the median time of each (after one warm-up) and the loop / vmap ratio; checks first that
both ways give the same numbers.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from agents.maml import adapt, maml_loss, task_loss
from agents.networks import mlp
from supervised.kinds import KINDS
from supervised.lifelong import ewc_importance, mas_importance
from supervised.registry import load_task


def timed(function, repeats: int, device: torch.device) -> float:
    """Median seconds of ``function()`` over ``repeats`` calls, after one warm-up."""
    function()
    times = []
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        start = time.perf_counter()
        function()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def maml_vmap(model, sx, sy, qx, qy):
    params = dict(model.named_parameters())
    loss = maml_loss(model, params, sx, sy, qx, qy, KINDS["regression"], 1, 0.01)
    return torch.autograd.grad(loss, list(params.values()))


def maml_loop(model, sx, sy, qx, qy):
    params = dict(model.named_parameters())
    kind = KINDS["regression"]
    total = 0.0
    for t in range(len(sx)):
        adapted = adapt(model, params, sx[t], sy[t], kind, 1, 0.01)
        total = total + task_loss(model, adapted, qx[t], qy[t], kind) / len(sx)
    return torch.autograd.grad(total, list(params.values()))


def importance_loop(model, x, labels, kind: str):
    """HW14's way: one backward per example, the squared (EWC, given labels) or absolute (MAS) gradient summed."""
    total = {name: torch.zeros_like(p) for name, p in model.named_parameters()}
    for i in range(len(x)):
        model.zero_grad()
        out = model(x[i : i + 1])
        if kind == "ewc":
            torch.log_softmax(out, -1)[0, labels[i]].backward()
        else:
            out.pow(2).sum().backward()
        for name, p in model.named_parameters():
            total[name] += (p.grad.pow(2) if kind == "ewc" else p.grad.abs()) / len(x)
    return total


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    torch.manual_seed(0)

    model = mlp([1, 40, 40, 1], "relu").to(device)
    sx, qx = (torch.rand(25, 10, 1, device=device) * 10 - 5 for _ in range(2))
    amplitude = torch.rand(25, 1, device=device) * 4.9 + 0.1
    sy, qy = amplitude * torch.sin(sx[..., 0]), amplitude * torch.sin(qx[..., 0])
    for a, b in zip(maml_vmap(model, sx, sy, qx, qy), maml_loop(model, sx, sy, qx, qy)):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)
    vmapped = timed(lambda: maml_vmap(model, sx, sy, qx, qy), args.repeats, device)
    looped = timed(lambda: maml_loop(model, sx, sy, qx, qy), args.repeats, device)
    rows = [("MAML meta-gradient, 25 tasks", vmapped, looped)]

    digits = load_task("digits", "train")
    x = torch.from_numpy(digits.x.copy()).flatten(1).to(device)  # (1258, 64)
    labels = torch.from_numpy(digits.y.copy()).to(device)
    net = mlp([64, 512, 512, 10], "relu").to(device)
    for kind, function in (("ewc", lambda: ewc_importance(net, x, labels)), ("mas", lambda: mas_importance(net, x))):
        ours, loop = function(), importance_loop(net, x, labels, kind)
        for name in ours:
            torch.testing.assert_close(ours[name], loop[name], rtol=1e-3, atol=1e-7)
        rows.append(
            (
                f"{kind.upper()} importance, {len(x)} examples",
                timed(function, args.repeats, device),
                timed(lambda k=kind: importance_loop(net, x, labels, k), max(1, args.repeats // 5), device),
            )
        )
    print(f"device {device}, {torch.get_num_threads()} thread(s), median of {args.repeats} after a warm-up")
    print(f"{'':<34}{'vmap s':>10}{'loop s':>10}{'loop / vmap':>13}")
    for name, fast, slow in rows:
        print(f"{name:<34}{fast:>10.4f}{slow:>10.4f}{slow / fast:>13.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
