"""The adversarial pieces GAN and GAIL share: a discriminator, the losses it and its opponent
minimise, and the reward it gives (Goodfellow et al. 2014; WGAN-GP: Gulrajani et al. 2017;
GAIL: Ho & Ermon 2016).

In a GAN (:mod:`agents.gan`) the opponent is a generator whose action is a sample; in GAIL
(:mod:`agents.imitation`) it is a policy whose (observation, action) pairs the discriminator
tells from an expert's. Either way the discriminator is a learned reward.

Sign convention everywhere: the discriminator outputs a logit ``(B,)``; D = sigmoid(logit) is
its probability that the input is *real* (expert, for GAIL).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from agents.networks import CNN, mlp

LOSSES: tuple[str, ...] = ("standard", "wgan-gp")
"""GAN objectives: non-saturating cross-entropy, or Wasserstein with a gradient penalty."""

REWARDS: tuple[str, ...] = ("positive", "logit")
"""Rewards a discriminator gives: -log(1 - D) (always > 0) or log D - log(1 - D) (the logit)."""


class Discriminator(nn.Module):
    """D(x) as a logit: an ``mlp`` over the flattened input. (B, *shape) -> (B,)."""

    def __init__(self, in_dim: int, hidden: list[int], act: str = "leaky_relu"):
        super().__init__()
        self.net = mlp([in_dim, *hidden, 1], act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x.flatten(1)).squeeze(-1)


class ConvDiscriminator(nn.Module):
    """D(x) as a logit for images: the shared ``CNN`` body and a linear head. (B, C, H, W) -> (B,)."""

    def __init__(self, obs_shape: tuple[int, ...], features: int, act: str = "leaky_relu"):
        super().__init__()
        self.body = CNN(obs_shape, features, act)
        self.head = nn.Linear(self.body.out_dim, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x)).squeeze(-1)


def discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor, loss: str = "standard") -> torch.Tensor:
    """Loss the discriminator minimises; logits ``(B,)`` each.

    standard: binary cross-entropy, real labelled 1 and fake 0:
    ``-log D(real) - log(1 - D(fake))`` = ``softplus(-real) + softplus(fake)``.
    wgan-gp: the critic's ``E[f(fake)] - E[f(real)]`` (add :func:`gradient_penalty` to it).
    """
    if loss == "standard":
        return F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()
    if loss == "wgan-gp":
        return fake_logits.mean() - real_logits.mean()
    raise ValueError(f"loss must be one of {', '.join(LOSSES)}; got {loss!r}")


def generator_loss(fake_logits: torch.Tensor, loss: str = "standard") -> torch.Tensor:
    """Loss the generator minimises, from the discriminator's logits on its samples ``(B,)``.

    standard: the non-saturating ``-log D(fake)`` = ``softplus(-fake)`` (strong gradients while
    D still rejects the samples, unlike the minimax ``log(1 - D)``). wgan-gp: ``-E[f(fake)]``.
    """
    if loss == "standard":
        return F.softplus(-fake_logits).mean()
    if loss == "wgan-gp":
        return -fake_logits.mean()
    raise ValueError(f"loss must be one of {', '.join(LOSSES)}; got {loss!r}")


def gradient_penalty(critic: nn.Module, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """WGAN-GP's ``E[(||grad_x f(x_hat)|| - 1)^2]`` at random points between real and fake."""
    alpha = torch.rand(real.shape[0], *([1] * (real.dim() - 1)), device=real.device)  # (B, 1, ...)
    mixed = (alpha * real + (1 - alpha) * fake).requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(mixed).sum(), mixed, create_graph=True)
    return (grad.flatten(1).norm(dim=1) - 1.0).pow(2).mean()


def adversarial_reward(logits: torch.Tensor, kind: str = "positive") -> torch.Tensor:
    """The reward a discriminator gives for inputs with these logits ``(B,)``.

    positive: ``-log(1 - D)`` = ``softplus(logit)`` > 0, the GAIL paper's cost turned reward;
    it grows as the input looks real, and its positive sign favours long episodes.
    logit: ``log D - log(1 - D)`` = ``logit`` (AIRL's), unbiased about episode length.
    """
    if kind == "positive":
        return F.softplus(logits)
    if kind == "logit":
        return logits
    raise ValueError(f"reward must be one of {', '.join(REWARDS)}; got {kind!r}")


def discriminator_accuracy(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> tuple[float, float]:
    """Fractions of real inputs called real (logit > 0) and of fake ones called fake."""
    return float((real_logits > 0).float().mean()), float((fake_logits < 0).float().mean())
