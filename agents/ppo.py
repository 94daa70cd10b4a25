"""Proximal Policy Optimization (Schulman et al. 2017) with the clipped surrogate objective.

Read top to bottom: the config, the loss (what every minibatch update minimises), then the learner (collect a rollout, compute
GAE, several epochs of minibatch updates).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F

from agents.base import Agent
from agents.config import OnPolicyConfig, in_unit_interval, one_of, positive
from agents.networks import ActorCritic
from agents.optim import SCHEDULES, flat_step, make_flat_optimizer, schedule, set_lr
from agents.rollout import buffer_for, collect_rollout, explained_variance, reward_scaler_for


@dataclass
class PPOConfig(OnPolicyConfig):
    """PPO hyperparameters (defaults: Stable-Baselines3's)."""

    n_steps: int = 2048
    """steps per env per rollout; a rollout holds n_steps * n_envs transitions"""
    batch_size: int = 64
    """minibatch size"""
    n_epochs: int = 10
    """passes over each rollout"""
    gamma: float = 0.99
    """discount factor"""
    gae_lambda: float = 0.95
    """GAE lambda: 0 = one-step TD, 1 = Monte Carlo"""
    clip_range: float = 0.2
    """initial clip range of the probability ratio"""
    clip_schedule: str = "constant"
    """constant | linear | cosine schedule of the clip range"""
    clip_range_vf: float = 0.0
    """clip value updates to this range around the old value (0 disables)"""
    ent_coef: float = 0.0
    """entropy bonus weight"""
    vf_coef: float = 0.5
    """value loss weight"""
    normalize_advantage: bool = True
    """normalise advantages per minibatch"""
    target_kl: float = 0.0
    """stop the epochs early when approx KL exceeds 1.5 * target_kl (0 disables)"""

    def check(self) -> None:
        """Raise ValueError for out-of-range values, with the fix."""
        super().check()
        positive(self, "n_steps", "batch_size", "n_epochs")
        in_unit_interval(self, "gamma", "gae_lambda")
        one_of(self, "clip_schedule", SCHEDULES)
        if not self.clip_range > 0:
            raise ValueError(f"clip_range must be > 0, got {self.clip_range}")
        rollout = self.n_steps * self.n_envs
        if rollout % self.batch_size and rollout > self.batch_size:
            fits = [b for b in range(self.batch_size, 0, -1) if rollout % b == 0][0]
            raise ValueError(
                f"n_steps * n_envs must be a multiple of batch_size (got {rollout} and "
                f"{self.batch_size}); try batch_size={fits}"
            )


class PPOLoss(NamedTuple):
    """One minibatch's PPO objective; ``total`` is what is minimised."""

    total: torch.Tensor
    policy: torch.Tensor
    value: torch.Tensor
    entropy: torch.Tensor
    log_ratio: torch.Tensor
    """log pi_new(a|s) - log pi_old(a|s) per sample ``(B,)``, for :func:`ratio_stats`"""


def clipped_surrogate_loss(log_ratio: torch.Tensor, advantages: torch.Tensor, clip_range: float) -> torch.Tensor:
    """PPO's clipped surrogate loss ``-mean(min(r A, clip(r, 1 - eps, 1 + eps) A))``, r = exp(log_ratio)."""
    ratio = log_ratio.exp()
    return -torch.min(advantages * ratio, advantages * ratio.clamp(1.0 - clip_range, 1.0 + clip_range)).mean()


def ratio_stats(log_ratio: torch.Tensor, clip_range: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(clip_fraction, approx_kl) of probability ratios given as ``log r``: the fraction with
    ``|r - 1| > clip_range``, and Schulman's low-variance KL estimator ``E[(r - 1) - log r]``."""
    with torch.no_grad():
        ratio = log_ratio.exp()
        return ((ratio - 1.0).abs() > clip_range).float().mean(), ((ratio - 1.0) - log_ratio).mean()


def ppo_policy_loss(
    new_log_prob: torch.Tensor, old_log_prob: torch.Tensor, advantages: torch.Tensor, clip_range: float
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Clipped surrogate loss. Returns (loss, clip_fraction, approx_kl); all inputs ``(B,)``."""
    log_ratio = new_log_prob - old_log_prob
    return clipped_surrogate_loss(log_ratio, advantages, clip_range), *ratio_stats(log_ratio, clip_range)


def value_loss(
    values: torch.Tensor, old_values: torch.Tensor, returns: torch.Tensor, clip_range_vf: float = 0.0
) -> torch.Tensor:
    """Mean squared error to the returns; with ``clip_range_vf`` > 0 the new value is first
    clipped to within that distance of the old one (as in SB3, not the max-of-two variant)."""
    if clip_range_vf > 0:
        values = old_values + (values - old_values).clamp(-clip_range_vf, clip_range_vf)
    return F.mse_loss(values, returns)


def ppo_loss(
    log_prob: torch.Tensor,
    old_log_prob: torch.Tensor,
    advantages: torch.Tensor,
    entropy: torch.Tensor,
    values: torch.Tensor,
    old_values: torch.Tensor,
    returns: torch.Tensor,
    clip_range: float,
    ent_coef: float = 0.0,
    vf_coef: float = 0.5,
    clip_range_vf: float = 0.0,
) -> PPOLoss:
    """PPO's objective on a minibatch (every tensor ``(B,)``): the clipped surrogate
    (:func:`clipped_surrogate_loss`) - ``ent_coef`` * mean entropy + ``vf_coef`` * :func:`value_loss`."""
    log_ratio = log_prob - old_log_prob
    policy = clipped_surrogate_loss(log_ratio, advantages, clip_range)
    value = value_loss(values, old_values, returns, clip_range_vf)
    mean_entropy = entropy.mean()
    total = policy - ent_coef * mean_entropy + vf_coef * value
    return PPOLoss(total, policy, value, mean_entropy, log_ratio)


def approx_kl(log_ratio: torch.Tensor) -> torch.Tensor:
    """Schulman's low-variance estimator of KL(old || new), ``E[(r - 1) - log r]``, from ``log r``."""
    return (log_ratio.exp() - 1.0 - log_ratio).mean()


class PPO(Agent):
    """PPO with GAE, minibatch epochs, advantage normalisation, optional value clipping and KL stop."""

    name = "ppo"
    Config = PPOConfig
    config: PPOConfig

    def build(self) -> None:
        """Actor-critic, Adam, rollout buffer."""
        c = self.config
        self.policy = ActorCritic.for_agent(self)
        self.params, self.optimizer = make_flat_optimizer(self.policy, c.optimizer, c.learning_rate)
        self.buffer = buffer_for(self)
        self.reward_scaler = reward_scaler_for(self)

    def modules(self):
        """Policy and optimizer."""
        return {"policy": self.policy, "optimizer": self.optimizer}

    def act(self, obs: torch.Tensor, deterministic: bool) -> torch.Tensor:
        """Sampled or most likely actions."""
        return self.policy.act(obs, deterministic).actions

    def collect(self) -> np.ndarray:
        """Fill the buffer with ``n_steps`` vector steps; returns V(next obs) ``(N,)``."""
        return collect_rollout(self, self.policy, self.buffer)

    def train_iteration(self) -> dict[str, float]:
        """One rollout, then ``n_epochs`` of minibatch updates (then its observations join the
        normalisation statistics)."""
        c = self.config
        self.buffer.finish(self.collect(), c.gamma, c.gae_lambda)
        metrics = self.update()
        self.policy.update_obs_stats(self.buffer.obs)
        return metrics

    def update(self) -> dict[str, float]:
        """``n_epochs`` of minibatch updates on the finished rollout in the buffer, at the learning
        rate and clip range of the current progress; returns the ``train/*`` figures."""
        c = self.config
        lr = self.lr_now()
        set_lr(self.optimizer, lr)
        clip = c.clip_range * schedule(c.clip_schedule)(self.progress())
        policy = self.policy
        terms, log_ratios = [], []  # per minibatch: policy, value and entropy; log ratios (read once, at the end)
        single = c.batch_size >= self.buffer.n_steps * self.buffer.n_envs  # one minibatch: the whole rollout
        normalized = None
        stopped_early = False
        for _ in range(c.n_epochs):
            for batch in self.buffer.minibatches(c.batch_size, self.rng):
                params, values, saved = policy.forward_train(batch.obs)  # (B, n) logits or means, (B,)
                log_prob, entropy = policy.head.log_prob_entropy(params, batch.actions)
                if c.ent_coef == 0:  # the entropy term then adds no gradient: keep it out of the backward pass
                    entropy = entropy.detach()
                advantages = normalized if normalized is not None else batch.advantages
                if normalized is None and c.normalize_advantage and len(advantages) > 1:
                    std, mean = torch.std_mean(advantages)
                    advantages = (advantages - mean) / (std + 1e-8)
                    if single:  # the same batch every epoch: normalise once
                        normalized = advantages
                if c.target_kl > 0:
                    with torch.no_grad():
                        if approx_kl(log_prob - batch.old_log_prob).item() > 1.5 * c.target_kl:
                            stopped_early = True
                            break
                loss = ppo_loss(
                    log_prob, batch.old_log_prob, advantages, entropy, values, batch.old_values, batch.returns,
                    clip, c.ent_coef, c.vf_coef, c.clip_range_vf,
                )  # fmt: skip
                with torch.no_grad():
                    terms.append(torch.stack(loss[1:4]))
                    log_ratios.append(loss.log_ratio.detach())
                policy.backward(loss.total, params, values, saved)
                flat_step(self.params, self.optimizer, c.max_grad_norm, c.fast)
            if stopped_early:
                break
        if terms:  # minibatches are equal in size: the mean of their means is the mean over samples
            clipped, kl = ratio_stats(torch.cat(log_ratios), clip)
            pg, vf, ent, kl, clipped = torch.cat([torch.stack(terms).mean(0), torch.stack([kl, clipped])]).tolist()
        else:
            pg = vf = ent = kl = clipped = float("nan")
        metrics = {
            "train/loss": pg - c.ent_coef * ent + c.vf_coef * vf,
            "train/policy_gradient_loss": pg,
            "train/value_loss": vf,
            "train/entropy_loss": -ent,
            "train/approx_kl": kl,
            "train/clip_fraction": clipped,
        }
        metrics["train/explained_variance"] = explained_variance(self.buffer.values, self.buffer.returns)
        metrics["train/learning_rate"] = lr
        metrics["train/clip_range"] = clip
        metrics["train/n_updates"] = len(terms)
        if hasattr(self.policy.head, "log_std"):
            metrics["train/std"] = float(self.policy.head.log_std.detach().exp().mean())
        return metrics
