"""Gradient checking: autograd's gradients against finite differences, for every network gymlab builds.

A network with a wrong backward pass still trains a little, so a bug there hides; the classic
remedy (CS231n's "gradient checking") compares the analytic gradient with a central difference
``(f(theta + eps v) - f(theta - eps v)) / 2 eps`` in float64. :func:`network_checks` builds each
network (small sizes, float64) as a plain function of its input and its parameters, so that both
``d out / d input`` and ``d out / d weights`` are checked: ``torch.autograd.gradcheck(fn, inputs)``
checks every entry of the Jacobian, and :func:`max_relative_error` gives one figure per network
(the worst of a few random directions), what the ``model-selection`` lecture plots.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn
from torch.func import functional_call

from agents.adversarial import ConvDiscriminator, Discriminator
from agents.gan import Generator
from agents.networks import CNN, AttentionEncoder, CategoricalHead, GaussianHead, GSDEHead, mlp
from agents.supervised import SupervisedConfig, build_predictor
from supervised import load_task

EPSILON = 1e-6
"""Step of the central differences (float64)."""


@dataclass
class NetworkCheck:
    """One network as a function of tensors: ``function(*inputs)`` -> output tensor(s)."""

    name: str
    function: Callable[..., torch.Tensor | tuple[torch.Tensor, ...]]
    """the network's forward pass with its parameters passed in after its input(s)"""
    inputs: tuple[torch.Tensor, ...]
    """float64 input(s) then every parameter; those that require grad are checked"""


class HeadLoss(nn.Module):
    """An actor head, then the log-prob and entropy of fixed actions: what a policy-gradient loss
    differentiates. (B, features) -> ((B,), (B,))."""

    def __init__(self, head: nn.Module, actions: torch.Tensor):
        super().__init__()
        self.head, self.actions = head, actions

    def forward(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.head.log_prob_entropy(self.head(features), self.actions)


def as_check(name: str, module: nn.Module, inputs: tuple[torch.Tensor, ...], input_grad: bool = True) -> NetworkCheck:
    """``module`` (moved to float64) as a function of its inputs and parameters. ``input_grad``
    False leaves the inputs out of the check (a module that detaches them on purpose)."""
    module = module.double()
    names = [name for name, _ in module.named_parameters()]
    n_inputs = len(inputs)

    def function(*tensors: torch.Tensor):
        parameters = dict(zip(names, tensors[n_inputs:]))
        return functional_call(module, parameters, tensors[:n_inputs])

    checked = tuple(x.double().detach().requires_grad_(input_grad and x.is_floating_point()) for x in inputs)
    weights = tuple(p.detach().clone().requires_grad_(True) for p in module.parameters())
    return NetworkCheck(name, function, checked + weights)


def network_checks(seed: int = 0) -> list[NetworkCheck]:
    """Every network gymlab builds, small, in float64: the ``mlp``, the three ``CNN`` layouts, the
    attention encoder, the three actor heads (with their log-prob and entropy), the supervised
    ``Predictor`` for each net, the GAN's generators and the discriminators. (An ``ActorCritic``
    is bodies and heads from this list; its input is cast to float32, so it is not checked whole.)"""
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)

    def randn(*shape: int) -> torch.Tensor:
        return torch.randn(*shape, generator=generator, dtype=torch.float64)

    batch = 3
    config = SupervisedConfig(hidden=[8], d_model=8, n_heads=2, n_layers=1)
    tabular, digits, sequence = load_task("iris", "train"), load_task("digits", "train"), load_task("sequence", "train")
    return [
        as_check("mlp", mlp([4, 8, 8, 3], "tanh"), (randn(batch, 4),)),
        as_check("mlp relu", mlp([4, 8, 8, 3], "relu"), (randn(batch, 4),)),
        as_check("CNN 8x8", CNN((1, 8, 8), features=4), (randn(2, 1, 8, 8),)),
        as_check("CNN 36x36", CNN((1, 36, 36), features=4), (randn(1, 1, 36, 36),)),
        as_check("CNN minatar", CNN((4, 10, 10), features=4, layout="minatar"), (randn(2, 4, 10, 10),)),
        as_check("attention", AttentionEncoder(5, 6, d_model=8, heads=2, layers=1), (randn(2, 6, 5),)),
        as_check("categorical head", HeadLoss(CategoricalHead(6, 3), torch.tensor([0, 2, 1])), (randn(batch, 6),)),
        as_check("gaussian head", HeadLoss(GaussianHead(6, 2), randn(batch, 2)), (randn(batch, 6),)),
        # gSDE detaches the features its noise is built from (as SB3 does): its weights are checked
        as_check("gSDE head", HeadLoss(GSDEHead(6, 2), randn(batch, 2)), (randn(batch, 6),), input_grad=False),
        as_check("predictor mlp", build_predictor("mlp", tabular, config), (randn(batch, 4),)),
        as_check("predictor cnn", build_predictor("cnn", digits, config), (randn(2, 1, 8, 8),)),
        as_check("predictor attention", build_predictor("attention", sequence, config), (randn(2, 16, 8),)),
        as_check("generator mlp", Generator(4, (6,), [8], "relu", 0.0, 1.0), (randn(batch, 4),)),
        as_check("generator conv", Generator(4, (1, 4, 4), [], "relu", 0.0, 1.0, "conv", 2), (randn(2, 4),)),
        as_check("discriminator", Discriminator(6, [8], "leaky_relu"), (randn(batch, 6),)),
        as_check("conv discriminator", ConvDiscriminator((1, 8, 8), 4), (randn(2, 1, 8, 8),)),
    ]


def max_relative_error(check: NetworkCheck, directions: int = 5, eps: float = EPSILON, seed: int = 0) -> float:
    """Worst relative error ``|a - n| / max(|a|, |n|)`` over random directions v, between the
    analytic directional derivative a = <grad L, v> (autograd) and the central difference
    n = (L(x + eps v) - L(x - eps v)) / 2 eps, of L = <u, output> for a fixed random u, with v
    moving every input that requires grad at once. Around 1e-8 or below for a correct backward.

    ReLU and max-pooling have kinks, where no derivative exists; with thousands of units one of
    them may lie within eps of the point, and then every direction's step crosses it. That shows
    as a central difference that changes with the step: the step is then made 10x smaller (down
    to eps / 1000) until the difference at h and at h / 10 agree."""
    generator = torch.Generator().manual_seed(seed)
    inputs = check.inputs
    moved = [i for i, x in enumerate(inputs) if x.requires_grad]

    def outputs(tensors) -> tuple[torch.Tensor, ...]:
        out = check.function(*tensors)
        return out if isinstance(out, tuple) else (out,)

    projections = [torch.randn(o.shape, generator=generator, dtype=torch.float64) for o in outputs(inputs)]

    def loss(tensors) -> torch.Tensor:
        return sum((u * o).sum() for u, o in zip(projections, outputs(tensors)))

    @torch.no_grad()
    def central_difference(steps: dict[int, torch.Tensor], h: float) -> float:
        plus = [x + h * steps[i] if i in steps else x for i, x in enumerate(inputs)]
        minus = [x - h * steps[i] if i in steps else x for i, x in enumerate(inputs)]
        return float(loss(plus) - loss(minus)) / (2 * h)

    gradients = torch.autograd.grad(loss(inputs), [inputs[i] for i in moved], allow_unused=True)
    worst = 0.0
    for _ in range(directions):
        steps = {i: torch.randn(inputs[i].shape, generator=generator, dtype=torch.float64) for i in moved}
        analytic = sum(float((g * steps[i]).sum()) for i, g in zip(moved, gradients) if g is not None)
        h = eps
        numeric, finer = central_difference(steps, h), central_difference(steps, h / 10)
        while abs(numeric - finer) > 1e-6 * max(abs(numeric), abs(finer), 1e-12) and h > eps / 1000:
            h /= 10  # the step crosses a kink: no derivative to compare with at this scale
            numeric, finer = finer, central_difference(steps, h / 10)
        worst = max(worst, abs(analytic - numeric) / max(abs(analytic), abs(numeric), 1e-12))
    return worst
