"""REINFORCE (Williams 1992): Monte-Carlo policy gradient on whole episodes, the course's HW12
algorithm, with an optional learned baseline V(s) (Sutton & Barto 2018, sec. 13.4).

Read top to bottom: the config, the loss, then the learner (play until ``episodes_per_update``
episodes have finished, compute each one's returns-to-go, take one gradient step).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from agents.base import Agent, TrainConfig, in_unit_interval, positive
from agents.networks import ActorCritic
from agents.optim import clip_grad_norm, make_optimizer, set_lr
from agents.rollout import discounted_returns, explained_variance


@dataclass
class ReinforceConfig(TrainConfig):
    """REINFORCE hyperparameters (defaults: HW12's CartPole/LunarLander setup, with a baseline)."""

    n_envs: int = 1
    """environments stepped in parallel; 1 keeps every update strictly on-policy"""
    learning_rate: float = 1e-3
    """initial learning rate"""
    optimizer: str = "adam"
    """sgd | momentum | nesterov | adagrad | rmsprop | adam | adamw"""
    max_grad_norm: float = 0.0
    """clip the global gradient norm to this (0 disables, as in HW12)"""
    episodes_per_update: int = 5
    """finished episodes per gradient step (HW12's EPISODE_PER_BATCH)"""
    gamma: float = 0.99
    """discount factor of the returns-to-go"""
    baseline: bool = True
    """learn V(s) and weight log-probs by G_t - V(s_t) instead of G_t (lower variance)"""
    normalize_returns: bool = True
    """standardise the policy-gradient weights (G_t, or G_t - V(s_t)) over each update, as HW12 does"""
    ent_coef: float = 0.0
    """entropy bonus weight"""
    vf_coef: float = 0.5
    """baseline (value) loss weight"""
    value_steps: int = 10
    """baseline gradient steps per update (the joint one, then value-only ones); 1 leaves V far behind"""
    shared: bool = False
    """one body for actor and baseline instead of two"""
    log_std_init: float = 0.0
    """initial log std of Gaussian (Box) policies"""

    def check(self) -> None:
        """Raise ValueError for out-of-range values, with the fix."""
        super().check()
        positive(self, "episodes_per_update", "value_steps")
        in_unit_interval(self, "gamma")
        if self.ent_coef < 0 or self.vf_coef < 0:
            raise ValueError(f"ent_coef and vf_coef must be >= 0 (got {self.ent_coef} and {self.vf_coef})")
        if self.shared and not self.baseline:
            raise ValueError("shared=True shares a body with the baseline; set baseline=true or shared=false")


def reinforce_loss(
    log_prob: torch.Tensor,
    returns: torch.Tensor,
    baseline_values: torch.Tensor | None = None,
    normalize: bool = True,
) -> tuple[torch.Tensor, torch.Tensor]:
    """REINFORCE's loss on a batch of steps (every input ``(B,)``). Returns (policy_loss, value_loss).

    The policy-gradient weight of step t is G_t, or G_t - V(s_t) with a baseline (unbiased because
    V does not depend on the action); ``normalize`` standardises the weights over the batch (HW12's
    trick: a cheap, batch-wide baseline and step size control). policy_loss = -mean(weight * log pi);
    value_loss = mean((G_t - V(s_t))^2), zero without a baseline.
    """
    returns = returns.detach()
    if baseline_values is None:
        weights = returns
        value_loss = returns.new_zeros(())
    else:
        weights = returns - baseline_values.detach()
        value_loss = F.mse_loss(baseline_values, returns)
    if normalize and len(weights) > 1:
        weights = (weights - weights.mean()) / (weights.std() + 1e-8)
    policy_loss = -(weights * log_prob).mean()
    return policy_loss, value_loss


class Reinforce(Agent):
    """REINFORCE with an optional learned baseline; one gradient step per batch of whole episodes.

    With ``n_envs`` > 1, episodes still running when the batch is full are kept and finished in the
    next update (their early steps come from the previous policy: a small, accepted staleness).
    Only complete episodes are trained on; an episode cut by a time limit bootstraps its return
    from V(true final obs) when a baseline exists, else counts as ended.
    """

    name = "reinforce"
    Config = ReinforceConfig
    config: ReinforceConfig

    def build(self) -> None:
        """Actor (and baseline critic), optimizer, per-env episode storage."""
        c = self.config
        self.policy = ActorCritic.for_agent(self, critic=c.baseline)
        self.params = list(self.policy.parameters())
        self.optimizer = make_optimizer(self.params, c.optimizer, c.learning_rate)
        self.clear_episodes()

    def clear_episodes(self) -> None:
        """Forget running episodes (called when the envs are reset)."""
        n = self.config.n_envs
        self.running: list[tuple[list, list, list]] = [([], [], []) for _ in range(n)]  # obs, actions, rewards

    def open_envs(self, video_dir=None, video_every: int = 100) -> None:
        """Reset the envs as the base does, dropping unfinished episodes from before a reset or resume."""
        super().open_envs(video_dir, video_every)
        self.clear_episodes()

    def modules(self):
        """Policy (with baseline) and optimizer."""
        return {"policy": self.policy, "optimizer": self.optimizer}

    def act(self, obs: torch.Tensor, deterministic: bool) -> torch.Tensor:
        """Sampled or most likely actions."""
        return self.policy.act(obs, deterministic).actions

    @torch.inference_mode()
    def collect(self) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """Step the envs until ``episodes_per_update`` episodes finish; returns them as
        ``(obs (T, *obs_shape), actions (T, *action_shape), returns (T,))`` per episode."""
        c = self.config
        finished: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        while len(finished) < c.episodes_per_update:
            obs = self.obs
            actions = self.policy.act(self.obs_tensor(obs)).actions.cpu().numpy()
            _, rewards, terminated, truncated, info = self.env_step(self.to_env_actions(actions))
            for i in range(len(obs)):
                episode_obs, episode_actions, episode_rewards = self.running[i]
                episode_obs.append(obs[i])
                episode_actions.append(actions[i])
                episode_rewards.append(rewards[i])
            for i in np.flatnonzero(terminated | truncated):
                bootstrap = 0.0
                if c.baseline and truncated[i] and not terminated[i]:  # time limit: the return goes on
                    final_obs = np.asarray(info["final_obs"][i])[None]
                    bootstrap = float(self.policy.value(self.obs_tensor(final_obs))[0])
                episode_obs, episode_actions, episode_rewards = self.running[i]
                rewards_column = np.asarray(episode_rewards, dtype=np.float32)[:, None]  # (T, 1)
                returns = discounted_returns(
                    rewards_column, np.zeros_like(rewards_column), c.gamma, np.array([bootstrap])
                )[:, 0]  # (T,)
                finished.append((np.stack(episode_obs), np.stack(episode_actions), returns))
                self.running[i] = ([], [], [])
        return finished

    def train_iteration(self) -> dict[str, float]:
        """Collect ``episodes_per_update`` whole episodes, then one gradient step on all their steps."""
        c = self.config
        episodes = self.collect()
        lr = self.lr_now()
        set_lr(self.optimizer, lr)
        obs = torch.as_tensor(np.concatenate([e[0] for e in episodes]), device=self.device)  # (B, *obs_shape)
        actions = torch.as_tensor(np.concatenate([e[1] for e in episodes]), device=self.device)  # (B, ...)
        returns = torch.as_tensor(np.concatenate([e[2] for e in episodes]), device=self.device)  # (B,)
        log_prob, entropy, values = self.policy.evaluate(obs, actions)
        policy_loss, value_loss = reinforce_loss(log_prob, returns, values, c.normalize_returns)
        entropy_loss = -entropy.mean()
        loss = policy_loss + c.ent_coef * entropy_loss + c.vf_coef * value_loss
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        clip_grad_norm(self.params, c.max_grad_norm)
        self.optimizer.step()
        for _ in range(c.value_steps - 1 if c.baseline else 0):
            # Value-only steps leave the actor's grads None, so Adam skips (does not decay) them.
            refit_loss = c.vf_coef * F.mse_loss(self.policy.value(obs), returns)
            self.optimizer.zero_grad(set_to_none=True)
            refit_loss.backward()
            clip_grad_norm(self.params, c.max_grad_norm)
            self.optimizer.step()
        parts = torch.stack([loss, policy_loss, value_loss, entropy_loss]).detach().tolist()
        metrics = dict(zip(("train/loss", "train/policy_loss", "train/value_loss", "train/entropy_loss"), parts))
        if values is not None:
            metrics["train/explained_variance"] = explained_variance(values.detach(), returns)
        metrics["train/learning_rate"] = lr
        metrics["train/n_updates"] = self.iterations + 1
        metrics["train/batch_steps"] = len(returns)
        if hasattr(self.policy.head, "log_std"):
            metrics["train/std"] = float(self.policy.head.log_std.detach().exp().mean())
        return metrics
