"""Proximal Policy Optimization (Schulman et al. 2017) with the clipped surrogate objective.

Read top to bottom: the config, the two losses, then the learner (collect a rollout, compute
GAE, several epochs of minibatch updates).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from agents.base import Agent
from agents.config import OnPolicyConfig, in_unit_interval, one_of, positive
from agents.networks import ActorCritic, actor_critic_backward
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


def ppo_policy_loss(
    new_log_prob: torch.Tensor, old_log_prob: torch.Tensor, advantages: torch.Tensor, clip_range: float
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Clipped surrogate loss. Returns (loss, clip_fraction, approx_kl); all inputs ``(B,)``.

    approx_kl is the low-variance estimator ``E[(r - 1) - log r]`` (Schulman's "approximating KL").
    """
    log_ratio = new_log_prob - old_log_prob
    ratio = log_ratio.exp()
    surrogate = advantages * ratio
    clipped = advantages * ratio.clamp(1.0 - clip_range, 1.0 + clip_range)
    loss = -torch.min(surrogate, clipped).mean()
    with torch.no_grad():
        clip_fraction = ((ratio - 1.0).abs() > clip_range).float().mean()
        approx_kl = ((ratio - 1.0) - log_ratio).mean()
    return loss, clip_fraction, approx_kl


def ppo_policy_loss_grad(
    new_log_prob: torch.Tensor, old_log_prob: torch.Tensor, advantages: torch.Tensor, clip_range: float
) -> torch.Tensor:
    """Gradient of :func:`ppo_policy_loss`'s loss w.r.t. ``new_log_prob`` ``(B,)``, in closed form.

    With r = exp(new - old): d/d new of -mean(min(A r, A clip(r))) is -A r / B where the unclipped
    term is the minimum (A r <= A clip(r), which includes every r inside the clip range), else 0
    -- what autograd computes through min and clamp, without building their graph.
    """
    ratio = (new_log_prob - old_log_prob).exp()
    surrogate = advantages * ratio
    unclipped = surrogate <= advantages * ratio.clamp(1.0 - clip_range, 1.0 + clip_range)
    return surrogate.mul_(unclipped).mul_(-1.0 / len(ratio))


def value_loss(
    values: torch.Tensor, old_values: torch.Tensor, returns: torch.Tensor, clip_range_vf: float = 0.0
) -> torch.Tensor:
    """Mean squared error to the returns; with ``clip_range_vf`` > 0 the new value is first
    clipped to within that distance of the old one (as in SB3, not the max-of-two variant)."""
    if clip_range_vf > 0:
        values = old_values + (values - old_values).clamp(-clip_range_vf, clip_range_vf)
    return (returns - values).pow(2).mean()


def value_loss_grad(
    values: torch.Tensor, old_values: torch.Tensor, returns: torch.Tensor, clip_range_vf: float = 0.0
) -> torch.Tensor:
    """Gradient of :func:`value_loss` w.r.t. ``values`` ``(B,)``: 2 (v - R) / B, zero where value
    clipping holds v at the edge of its range."""
    if clip_range_vf > 0:
        change = values - old_values
        grad = (old_values + change.clamp(-clip_range_vf, clip_range_vf) - returns).mul_(2.0 / len(values))
        return grad.mul_(change.abs() <= clip_range_vf)
    return (values - returns).mul_(2.0 / len(values))


def approx_kl(log_ratio: torch.Tensor) -> torch.Tensor:
    """Schulman's low-variance estimator of KL(old || new), ``E[(r - 1) - log r]``, from ``log r``."""
    return (log_ratio.exp() - 1.0 - log_ratio).mean()


def ppo_objective_grad(
    log_ratio: torch.Tensor, advantages: torch.Tensor, clip_range: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """The clipped surrogate per sample, ``min(A r, A clip(r))`` ``(B,)`` (the policy loss is minus its
    mean, :func:`ppo_policy_loss`), and the loss's gradient w.r.t. the new log-prob ``(B,)`` in closed
    form (as :func:`ppo_policy_loss_grad`), sharing the ratio between them."""
    ratio = log_ratio.exp()
    surrogate = advantages * ratio
    clipped = ratio.clamp_(1.0 - clip_range, 1.0 + clip_range).mul_(advantages)
    objective = torch.minimum(surrogate, clipped)
    return objective, surrogate.mul_(surrogate <= clipped).mul_(-1.0 / len(ratio))


def value_error_grad(
    values: torch.Tensor, old_values: torch.Tensor, returns: torch.Tensor, clip_range_vf: float, vf_coef: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """The error ``v - R`` of the (clipped, with ``clip_range_vf`` > 0) value prediction, whose mean
    square is :func:`value_loss`, and the gradient of ``vf_coef * value_loss`` w.r.t. ``values``."""
    if clip_range_vf > 0:
        change = values - old_values
        error = old_values + change.clamp(-clip_range_vf, clip_range_vf) - returns
        return error, error.mul(2.0 * vf_coef / len(values)).mul_(change.abs() <= clip_range_vf)
    error = values - returns
    return error, error.mul(2.0 * vf_coef / len(values))


def ppo_metrics(terms: torch.Tensor, clip_range: float, ent_coef: float, vf_coef: float) -> dict[str, float]:
    """SB3's ``train/*`` figures of one update from ``terms`` ``(M, 4, B)``: per minibatch, the log
    ratio, entropy, clipped objective and value error of each sample, computed once per update
    rather than per minibatch. Minibatches are equal in size, so the mean over samples is the mean
    of minibatch means."""
    if len(terms) == 0:
        pg = vf = ent = kl = clipped = float("nan")
    else:
        log_ratio, entropy, objective, value_error = terms.transpose(0, 1).reshape(4, -1)
        ratio = log_ratio.exp()
        figures = torch.stack([
            -objective.mean(), value_error.square().mean(), entropy.mean(), approx_kl(log_ratio),
            ((ratio - 1.0).abs() > clip_range).float().mean(),
        ])  # fmt: skip
        pg, vf, ent, kl, clipped = figures.tolist()
    return {
        "train/loss": pg - ent_coef * ent + vf_coef * vf,
        "train/policy_gradient_loss": pg,
        "train/value_loss": vf,
        "train/entropy_loss": -ent,
        "train/approx_kl": kl,
        "train/clip_fraction": clipped,
    }


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
        policy, head = self.policy, self.policy.head
        size = self.buffer.n_steps * self.buffer.n_envs
        single = c.batch_size >= size  # one minibatch: the whole rollout
        normalized = None
        batch_size = min(c.batch_size, size)
        # per minibatch (4, B): log ratio, entropy, clipped objective, value error, written into one
        # block kept from update to update (a thousand small tensors, or a fresh block each update,
        # fragment the heap: resident memory crept up by about 1 MB per update)
        shape = (c.n_epochs * (size // batch_size), 4, batch_size)
        if getattr(self, "_terms", None) is None or self._terms.shape != shape:
            self._terms = torch.empty(shape, device=self.device)
        terms = self._terms
        n_updates = 0
        stopped_early = False
        # With the hand-written backward nothing below needs autograd: inference mode skips its
        # per-op bookkeeping (about a tenth of an update at these sizes).
        with torch.inference_mode(policy.fused):
            for _ in range(c.n_epochs):
                for batch in self.buffer.minibatches(c.batch_size, self.rng):
                    # The network's forward and backward run without autograd (forward_update,
                    # actor_critic_backward) and the loss gradient w.r.t. its outputs is closed-form:
                    # the gradient of loss.backward() without ~30 tiny autograd nodes per minibatch.
                    params, values, saved = policy.forward_update(batch.obs)  # (B, n) logits or means, (B,)
                    log_prob, entropy, head_saved = head.log_prob_entropy_saved(params, batch.actions)
                    advantages = normalized
                    if advantages is None:
                        advantages = batch.advantages
                        if c.normalize_advantage and len(advantages) > 1:
                            std, mean = torch.std_mean(advantages)
                            advantages = (advantages - mean) / (std + 1e-8)
                        if single:  # the same batch every epoch: normalise once
                            normalized = advantages
                    log_ratio = log_prob - batch.old_log_prob
                    if c.target_kl > 0 and approx_kl(log_ratio).item() > 1.5 * c.target_kl:
                        stopped_early = True
                        break
                    objective, grad_log_prob = ppo_objective_grad(log_ratio, advantages, clip)
                    value_error, grad_values = value_error_grad(
                        values, batch.old_values, batch.returns, c.clip_range_vf, c.vf_coef
                    )
                    with torch.no_grad():
                        torch.stack([log_ratio, entropy, objective, value_error], out=terms[n_updates])
                    n_updates += 1
                    actor_critic_backward(
                        policy, params, values, batch.actions, grad_log_prob, -c.ent_coef / len(log_prob), grad_values,
                        saved, head_saved,
                    )  # fmt: skip
                    flat_step(self.params, self.optimizer, c.max_grad_norm)
                if stopped_early:
                    break
        metrics = ppo_metrics(terms[:n_updates], clip, c.ent_coef, c.vf_coef)
        metrics["train/explained_variance"] = explained_variance(self.buffer.values, self.buffer.returns)
        metrics["train/learning_rate"] = lr
        metrics["train/clip_range"] = clip
        metrics["train/n_updates"] = n_updates
        if hasattr(self.policy.head, "log_std"):
            metrics["train/std"] = float(self.policy.head.log_std.detach().exp().mean())
        return metrics
