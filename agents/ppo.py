"""Proximal Policy Optimization (Schulman et al. 2017) with the clipped surrogate objective.

Read top to bottom: the config, the two losses, then the learner (collect a rollout, compute
GAE, several epochs of minibatch updates).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from agents.base import Agent, TrainConfig, in_unit_interval, one_of, positive
from agents.networks import ActorCritic
from agents.optim import SCHEDULES, clip_grad_norm, make_optimizer, schedule, set_lr
from agents.rollout import RolloutBuffer


@dataclass
class PPOConfig(TrainConfig):
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
    shared: bool = False
    """one body for actor and critic instead of two"""
    log_std_init: float = 0.0
    """initial log std of Gaussian (Box) policies"""

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


def value_loss(
    values: torch.Tensor, old_values: torch.Tensor, returns: torch.Tensor, clip_range_vf: float = 0.0
) -> torch.Tensor:
    """Mean squared error to the returns; with ``clip_range_vf`` > 0 the new value is first
    clipped to within that distance of the old one (as in SB3, not the max-of-two variant)."""
    if clip_range_vf > 0:
        values = old_values + (values - old_values).clamp(-clip_range_vf, clip_range_vf)
    return (returns - values).pow(2).mean()


def explained_variance(predicted: torch.Tensor, target: torch.Tensor) -> float:
    """1 - Var[target - predicted] / Var[target]: 1 is perfect, 0 is a constant guess."""
    var = target.var()
    return float("nan") if var == 0 else float(1.0 - (target - predicted).var() / var)


class PPO(Agent):
    """PPO with GAE, minibatch epochs, advantage normalisation, optional value clipping and KL stop."""

    name = "ppo"
    Config = PPOConfig
    config: PPOConfig

    def build(self) -> None:
        """Actor-critic, Adam, rollout buffer."""
        c = self.config
        self.policy = ActorCritic(
            self.observation_space, self.action_space, c.hidden, c.activation,
            shared=c.shared, ortho_init=c.ortho_init, log_std_init=c.log_std_init,
        ).to(self.device)  # fmt: skip
        self.optimizer = make_optimizer(self.policy.parameters(), c.optimizer, c.learning_rate)
        self.params = list(self.policy.parameters())
        self.buffer = RolloutBuffer(
            c.n_steps, c.n_envs, self.observation_space.shape, self.observation_space.dtype,
            self.action_space.shape, self.action_space.dtype, self.device,
        )  # fmt: skip

    def modules(self):
        """Policy and optimizer."""
        return {"policy": self.policy, "optimizer": self.optimizer}

    def act(self, obs: torch.Tensor, deterministic: bool) -> torch.Tensor:
        """Sampled or most likely actions."""
        return self.policy.act(obs, deterministic).actions

    @torch.inference_mode()
    def collect(self) -> np.ndarray:
        """Fill the buffer with ``n_steps`` vector steps; returns V(next obs) ``(N,)``."""
        c, policy, buffer = self.config, self.policy, self.buffer
        for _ in range(c.n_steps):
            obs = self.obs
            out = policy.act(self.obs_tensor(obs))
            actions = out.actions.cpu().numpy()
            _, rewards, terminated, truncated, info = self.env_step(self.to_env_actions(actions))
            buffer.add(obs, actions, out.log_prob.cpu().numpy(), out.values.cpu().numpy(),
                       rewards, terminated, truncated)  # fmt: skip
            cut = truncated & ~terminated
            if cut.any():  # bootstrap time-limit cuts from the true final observation
                ids = np.flatnonzero(cut)
                final_obs = np.stack(info["final_obs"][ids])
                buffer.set_final_values(ids, policy.value(self.obs_tensor(final_obs)).cpu().numpy())
        return policy.value(self.obs_tensor(self.obs)).cpu().numpy()

    def train_iteration(self) -> dict[str, float]:
        """One rollout, then ``n_epochs`` of minibatch updates."""
        c = self.config
        self.buffer.finish(self.collect(), c.gamma, c.gae_lambda)
        lr = self.lr_now()
        set_lr(self.optimizer, lr)
        clip = c.clip_range * schedule(c.clip_schedule)(self.progress())
        stats: list[torch.Tensor] = []  # per minibatch: (5,) kept as tensors, averaged at the end
        stopped_early = False
        for _ in range(c.n_epochs):
            for batch in self.buffer.minibatches(c.batch_size, self.rng):
                log_prob, entropy, values = self.policy.evaluate(batch.obs, batch.actions)
                advantages = batch.advantages
                if c.normalize_advantage and len(advantages) > 1:
                    advantages = (advantages - advantages.mean()) / (advantages.std() + 1e-8)
                pg_loss, clip_fraction, approx_kl = ppo_policy_loss(
                    log_prob, batch.old_log_prob, advantages, clip
                )
                if c.target_kl > 0 and approx_kl.item() > 1.5 * c.target_kl:
                    stopped_early = True
                    break
                v_loss = value_loss(values, batch.old_values, batch.returns, c.clip_range_vf)
                entropy_loss = -entropy.mean()
                loss = pg_loss + c.ent_coef * entropy_loss + c.vf_coef * v_loss
                self.optimizer.zero_grad(set_to_none=True)
                loss.backward()
                clip_grad_norm(self.params, c.max_grad_norm)
                self.optimizer.step()
                stats.append(torch.stack([loss, pg_loss, v_loss, entropy_loss, approx_kl, clip_fraction]).detach())
            if stopped_early:
                break
        data = self.buffer.all()
        metrics = dict(zip(
            ("train/loss", "train/policy_gradient_loss", "train/value_loss",
             "train/entropy_loss", "train/approx_kl", "train/clip_fraction"),
            torch.stack(stats).mean(0).tolist() if stats else [float("nan")] * 6,
        ))  # fmt: skip
        metrics["train/explained_variance"] = explained_variance(data.old_values, data.returns)
        metrics["train/learning_rate"] = lr
        metrics["train/clip_range"] = clip
        metrics["train/n_updates"] = len(stats)
        if hasattr(self.policy.head, "log_std"):
            metrics["train/std"] = float(self.policy.head.log_std.exp().mean())
        return metrics
