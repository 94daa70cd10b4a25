"""Domain-adversarial training (DANN, Ganin et al. 2016; HW11): labels in a source domain only,
unlabelled inputs from a target domain, and features that a domain classifier cannot tell apart.

Three parts: a feature extractor (MLP), a label predictor (linear, trained on the source labels
through the source env's reward, as the pathwise learner does) and a domain classifier (the
:class:`agents.adversarial.Discriminator` that GAN and GAIL use, trained with their
``discriminator_loss``, source = "real", target = "fake"). The domain classifier reads the
features through a gradient-reversal layer: forward it is the identity, backward it multiplies
the gradient by -lambda, so one backward pass trains the classifier to tell the domains apart and
the extractor to make them indistinguishable. lambda ramps up as 2 / (1 + exp(-10 p)) - 1 over
training progress p (the paper's schedule), times ``domain_weight`` (0: source-only training).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import gymnasium as gym
import numpy as np
import torch
from torch import nn

import envs
from agents.adversarial import Discriminator, discriminator_accuracy, discriminator_loss
from agents.base import Agent
from agents.config import TrainConfig, positive
from agents.networks import CategoricalHead, mlp
from agents.optim import make_optimizer, set_lr
from envs.single_step import SingleStepEnv, SingleStepVectorEnv
from supervised.registry import get_task, load_task


class GradientReversal(torch.autograd.Function):
    """Identity forward; backward multiplies the incoming gradient by ``-scale``."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, scale: float) -> torch.Tensor:
        ctx.scale = scale
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad_output: torch.Tensor):
        return -ctx.scale * grad_output, None


def reverse_gradient(x: torch.Tensor, scale: float = 1.0) -> torch.Tensor:
    """``x`` unchanged, with its gradient flipped and scaled by ``scale`` on the way back."""
    return GradientReversal.apply(x, scale)


def reversal_schedule(progress: float) -> float:
    """DANN's lambda ramp: 2 / (1 + exp(-10 p)) - 1, from 0 at p = 0 to about 1 at p = 1."""
    return 2.0 / (1.0 + math.exp(-10.0 * progress)) - 1.0


@dataclass
class DANNConfig(TrainConfig):
    """DANN hyperparameters; defaults suit the two moons."""

    total_steps: int = 60_000
    """source examples in all"""
    n_envs: int = 1
    """must stay 1: one batched env scores batch_size source examples per step"""
    learning_rate: float = 3e-3
    """learning rate of all three parts"""
    hidden: list[int] = field(default_factory=lambda: [64, 64])
    """feature extractor's layer sizes (the last one is the feature size)"""
    activation: str = "relu"
    """tanh | relu | gelu | elu | leaky_relu"""
    disc_hidden: list[int] = field(default_factory=lambda: [64])
    """domain classifier's hidden sizes"""
    batch_size: int = 64
    """source examples (and as many target inputs) per step"""
    target: str = ""
    """the target domain's task (its labels are never used), e.g. moons-rotated"""
    domain_weight: float = 1.0
    """scale of the reversed gradient (0: source-only training, the domain classifier still trained)"""

    def check(self) -> None:
        """Raise ValueError for out-of-range values, with the fix."""
        super().check()
        positive(self, "batch_size")
        if self.n_envs != 1:
            raise ValueError(f"dann steps one batched env, so n_envs must be 1 (got {self.n_envs}); set batch_size")
        if not self.target:
            raise ValueError("dann needs a target domain: --set target=TASK, e.g. target=moons-rotated")
        get_task(self.target)
        if self.domain_weight < 0:
            raise ValueError(f"domain_weight must be >= 0, got {self.domain_weight}")


class DANN(Agent):
    """Feature extractor, label predictor and domain classifier through a gradient reversal."""

    name = "dann"
    plays_one_split = False
    Config = DANNConfig
    config: DANNConfig
    action_spaces = (gym.spaces.Discrete,)

    def build(self) -> None:
        """The three parts and one optimizer; the target's train inputs on the device."""
        probe = envs.make_env(self.env_id, **self.env_kwargs)
        single = probe.unwrapped
        probe.close()
        if not isinstance(single, SingleStepEnv) or self.env_kwargs.get("family"):
            raise ValueError(f"dann adapts between two classification tasks; {self.env_id} is not one")
        self.task, c = single.task, self.config
        source, target = load_task(self.task, "train"), load_task(c.target, "train")
        if source.obs_shape != target.obs_shape or source.n_classes != target.n_classes:
            raise ValueError(
                f"source {self.task!r} and target {c.target!r} must share inputs and classes; got "
                f"{source.obs_shape} / {source.n_classes} and {target.obs_shape} / {target.n_classes}"
            )
        in_dim = math.prod(source.obs_shape)
        self.extractor = nn.Sequential(nn.Flatten(), mlp([in_dim, *c.hidden], c.activation), nn.ReLU()).to(self.device)
        self.predictor = nn.Linear(c.hidden[-1], source.n_classes).to(self.device)
        self.domain = Discriminator(c.hidden[-1], c.disc_hidden, c.activation).to(self.device)
        self.model = nn.Sequential(self.extractor, self.predictor)
        self.params = [*self.model.parameters(), *self.domain.parameters()]
        self.optimizer = make_optimizer(self.params, c.optimizer, c.learning_rate)
        self.target_x = torch.from_numpy(target.x.copy()).to(self.device)  # (N_target, ...), labels unused

    def modules(self):
        """Extractor + predictor (``model``), domain classifier, optimizer."""
        return {"model": self.model, "domain": self.domain, "optimizer": self.optimizer}

    def act(self, obs: torch.Tensor, deterministic: bool) -> torch.Tensor:
        """Labels from the label predictor."""
        logits = self.model(obs)
        return CategoricalHead.mode(logits) if deterministic else CategoricalHead.sample(logits)

    def open_envs(self, video_dir=None, video_every: int = 100) -> None:
        """The source task's batched train env (prediction mode: the reward has a gradient)."""
        self.envs = SingleStepVectorEnv(self.task, self.config.batch_size, "train", "prediction", self.device)
        self.obs, _ = self.envs.reset(seed=self.seed + self.num_timesteps)

    def train_iteration(self) -> dict[str, float]:
        """One step: source label loss + domain loss through the reversal, one backward."""
        c = self.config
        scale = c.domain_weight * reversal_schedule(self.progress())
        set_lr(self.optimizer, self.lr_now())
        source_features = self.extractor(self.obs)  # (B, F)
        _, reward, _, _, _ = self.env_step(self.predictor(source_features))  # -cross-entropy, (B,)
        label_loss = -reward.mean()
        rows = torch.from_numpy(self.rng.integers(0, len(self.target_x), c.batch_size)).to(self.device)
        target_features = self.extractor(self.target_x[rows])  # (B, F)
        source_logits = self.domain(reverse_gradient(source_features, scale))  # (B,) "real" = source
        target_logits = self.domain(reverse_gradient(target_features, scale))
        domain_loss = discriminator_loss(source_logits, target_logits)
        self.optimizer.zero_grad(set_to_none=True)
        (label_loss + domain_loss).backward()
        self.optimizer.step()
        source_right, target_right = discriminator_accuracy(source_logits.detach(), target_logits.detach())
        return {
            "train/label_loss": float(label_loss.detach()),
            "train/domain_loss": float(domain_loss.detach()),
            "train/domain_accuracy": (source_right + target_right) / 2,
            "train/reversal_scale": scale,
        }

    @torch.no_grad()
    def accuracy(self, task: str, split: str = "test") -> float:
        """Label accuracy on ``split`` of ``task`` (the source or the target)."""
        data = load_task(task, split)
        x, y = torch.from_numpy(data.x.copy()).to(self.device), torch.from_numpy(data.y.copy()).to(self.device)
        with self.own_process_state():
            return float((self.model(x).argmax(-1) == y).float().mean())

    @torch.no_grad()
    def features(self, task: str, split: str = "test") -> np.ndarray:
        """The extractor's features of ``split`` of ``task``: (N, F)."""
        data = load_task(task, split)
        with self.own_process_state():
            return self.extractor(torch.from_numpy(data.x.copy()).to(self.device)).numpy(force=True)

    def evaluate(
        self, episodes=10, deterministic=True, seed=None, env=None, on_episode=None, split: str = "test"
    ) -> dict[str, float]:
        """Accuracy on ``split`` of the target (``mean_reward``, ``target_accuracy``) and of the source."""
        if env is not None:
            return super().evaluate(episodes, deterministic, seed, env, on_episode, split)
        target = self.accuracy(self.config.target, split)  # the mean of 0/1 rewards, whose std follows
        return {"mean_reward": target, "std_reward": math.sqrt(target * (1 - target)), "target_accuracy": target,
                "source_accuracy": self.accuracy(self.task, split), "mean_ep_length": 1.0}  # fmt: skip

    def eval_lines(self, stats: dict[str, float], split: str = "test") -> list[str]:
        """``gymlab eval``: accuracy on ``split`` of the target and of the source, each named."""
        target, source = self.config.target, self.task
        sizes = {task: len(load_task(task, split)) for task in (target, source)}
        return [
            f"split:       {split} split of each domain (target {target}: {sizes[target]} examples; source "
            f"{source}: {sizes[source]})",
            f"target:      accuracy {stats['target_accuracy']:.4f} on {target} (its labels never used in training; "
            "the figure domain adaptation raises)",
            f"source:      accuracy {stats['source_accuracy']:.4f} on {source} (the domain whose labels trained it)",
        ]

    def summary(self, metrics: dict[str, float]) -> dict[str, float]:
        """Validation accuracy on both domains."""
        return {"val/target_accuracy": self.accuracy(self.config.target, "val"),
                "val/source_accuracy": self.accuracy(self.task, "val")}  # fmt: skip
