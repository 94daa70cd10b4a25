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

from agents.base import Agent, release_free_heap
from agents.config import OnPolicyConfig, in_unit_interval, positive
from agents.networks import ActorCritic
from agents.optim import flat_step, make_flat_optimizer, make_optimizer, set_lr
from agents.rollout import discounted_returns, explained_variance, reward_scaler_for, sde_noise_due, value_of


@dataclass
class ReinforceConfig(OnPolicyConfig):
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
    vf_learning_rate: float = 0.0
    """initial learning rate of the value-only steps, on the same schedule (0: learning_rate), as
    Spinning Up's VPG has vf_lr beside pi_lr"""
    shared: bool = False
    """one body for actor and baseline instead of two"""

    def check(self) -> None:
        """Raise ValueError for out-of-range values, with the fix."""
        super().check()
        positive(self, "episodes_per_update", "value_steps")
        if self.vf_learning_rate < 0:
            raise ValueError(f"vf_learning_rate must be >= 0, 0 meaning learning_rate (got {self.vf_learning_rate})")
        in_unit_interval(self, "gamma")
        if self.ent_coef < 0 or self.vf_coef < 0:
            raise ValueError(f"ent_coef and vf_coef must be >= 0 (got {self.ent_coef} and {self.vf_coef})")
        if self.shared and not self.baseline:
            raise ValueError("shared=True shares a body with the baseline; set baseline=true or shared=false")


UPDATE_ROWS = 512
"""Rows per forward/backward pass of an update. Batches of whole episodes change size from update
to update; passes of one fixed size reuse the same memory each time (a pass over the whole batch
allocated blocks of a new size every update and fragmented the heap: +13 MB peak on CartPole)."""


def reinforce_weights(
    returns: torch.Tensor, baseline_values: torch.Tensor | None = None, normalize: bool = True
) -> torch.Tensor:
    """The policy-gradient weight of each step ``(B,)``: G_t, or G_t - V(s_t) with a baseline
    (unbiased because V does not depend on the action); ``normalize`` standardises them over the
    batch (HW12's trick: a cheap, batch-wide baseline and step size control)."""
    weights = returns if baseline_values is None else returns - baseline_values
    if normalize and len(weights) > 1:
        weights = (weights - weights.mean()) / (weights.std() + 1e-8)
    return weights


def reinforce_loss(
    log_prob: torch.Tensor,
    returns: torch.Tensor,
    baseline_values: torch.Tensor | None = None,
    normalize: bool = True,
    weights: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """REINFORCE's loss on a batch of steps (every input ``(B,)``). Returns (policy_loss, value_loss).

    policy_loss = -mean(weight * log pi) with :func:`reinforce_weights` (no gradient through them);
    value_loss = mean((G_t - V(s_t))^2), zero without a baseline. ``weights``, when given, are
    used as they are (a batch trained in several passes takes them from the whole batch).
    """
    returns = returns.detach()
    if weights is None:
        baseline = None if baseline_values is None else baseline_values.detach()
        weights = reinforce_weights(returns, baseline, normalize)
    value_loss = returns.new_zeros(()) if baseline_values is None else F.mse_loss(baseline_values, returns)
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
        """Actor (and baseline critic), optimizer on its weights as one flat tensor, per-env episode storage."""
        c = self.config
        self.policy = ActorCritic.for_agent(self, critic=c.baseline)
        self.params, self.optimizer = make_flat_optimizer(self.policy, c.optimizer, c.learning_rate)
        # The value-only steps have an optimizer of their own on the same flat tensor. The actor's
        # share of their gradient is exactly zero, so its moments there stay zero and those steps
        # leave the actor where it is; sharing the joint step's optimizer, momentum would carry the
        # actor along its last step value_steps - 1 more times. (AdamW's decoupled weight decay is
        # the exception: it shrinks every weight on every step of either optimizer.)
        vf_lr = c.vf_learning_rate or c.learning_rate
        self.value_optimizer = make_optimizer(self.params, c.optimizer, vf_lr) if c.baseline else None
        self.reward_scaler = reward_scaler_for(self)
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
        """Policy (with baseline) and optimizers."""
        modules = {"policy": self.policy, "optimizer": self.optimizer}
        if self.value_optimizer is not None:
            modules["value_optimizer"] = self.value_optimizer
        return modules

    def act(self, obs: torch.Tensor, deterministic: bool) -> torch.Tensor:
        """Sampled or most likely actions."""
        return self.policy.act(obs, deterministic).actions

    @torch.inference_mode()
    def collect(self) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """Step the envs until ``episodes_per_update`` episodes finish; returns them as
        ``(obs (T, *obs_shape), actions (T, *action_shape), returns (T,))`` per episode."""
        c, policy = self.config, self.policy
        numpy_acting = policy.numpy_acting(self.obs)  # as PPO and A2C act (ActorCritic.act_numpy)
        finished: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        steps = 0
        while len(finished) < c.episodes_per_update:
            if sde_noise_due(c, steps):
                policy.reset_noise(c.n_envs)
            steps += 1
            obs = self.obs
            if numpy_acting:
                actions = policy.act_numpy(obs, self.rng)[0]
            else:
                actions = policy.act(self.obs_tensor(obs)).actions.cpu().numpy()
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
                    bootstrap = float(value_of(self, policy, final_obs, numpy_acting)[0])
                episode_obs, episode_actions, episode_rewards = self.running[i]
                rewards_column = np.asarray(episode_rewards, dtype=np.float32)[:, None]  # (T, 1)
                returns = discounted_returns(
                    rewards_column, np.zeros_like(rewards_column), c.gamma, np.array([bootstrap])
                )[:, 0]  # (T,)
                finished.append((np.stack(episode_obs), np.stack(episode_actions), returns))
                self.running[i] = ([], [], [])
        return finished

    def train_iteration(self) -> dict[str, float]:
        """Collect ``episodes_per_update`` whole episodes, then one gradient step on all their steps
        (and ``value_steps - 1`` value-only ones)."""
        c, policy = self.config, self.policy
        episodes = self.collect()
        lr = self.lr_now()
        set_lr(self.optimizer, lr)
        if self.value_optimizer is not None:
            set_lr(self.value_optimizer, lr * (c.vf_learning_rate or c.learning_rate) / c.learning_rate)
        batch_obs = np.concatenate([e[0] for e in episodes])
        obs = torch.as_tensor(batch_obs, device=self.device)  # (B, *obs_shape)
        actions = torch.as_tensor(np.concatenate([e[1] for e in episodes]), device=self.device)  # (B, ...)
        returns = torch.as_tensor(np.concatenate([e[2] for e in episodes]), device=self.device)  # (B,)
        # The gradient of reinforce_loss (+ entropy), accumulated over passes of UPDATE_ROWS rows.
        with torch.no_grad():
            values = None
            if c.baseline:  # V(s_t) before the step, for the weights (a pass of its own)
                values = torch.cat([policy.value(obs[rows]) for rows in self._passes(len(returns))])
            weights = reinforce_weights(returns, values, c.normalize_returns)
        sums = self._accumulate_gradient(obs, actions, returns, weights)
        flat_step(self.params, self.optimizer, c.max_grad_norm, c.fast)
        for _ in range(c.value_steps - 1 if c.baseline else 0):  # value-only: the actor stays put
            self._accumulate_gradient(obs, actions, returns, None)
            flat_step(self.params, self.value_optimizer, c.max_grad_norm, c.fast)
        weighted_log_prob, squared_error, entropy = (sums / len(returns)).tolist()
        metrics = {
            "train/loss": -weighted_log_prob - c.ent_coef * entropy + c.vf_coef * squared_error,
            "train/policy_loss": -weighted_log_prob,
            "train/value_loss": squared_error,
            "train/entropy_loss": -entropy,
        }
        if values is not None:
            metrics["train/explained_variance"] = explained_variance(values, returns)
        metrics["train/learning_rate"] = lr
        metrics["train/n_updates"] = self.iterations + 1
        metrics["train/batch_steps"] = len(returns)
        if hasattr(policy.head, "log_std"):
            metrics["train/std"] = float(policy.head.log_std.detach().exp().mean())
        policy.update_obs_stats(batch_obs)  # after the step: collection and update saw the same statistics
        release_free_heap()  # batches of a new size every update fragment the heap (see its docstring)
        return metrics

    @staticmethod
    def _passes(n: int) -> list[slice]:
        """Row ranges of the forward/backward passes over a batch of ``n`` steps."""
        return [slice(start, start + UPDATE_ROWS) for start in range(0, n, UPDATE_ROWS)]

    def _accumulate_gradient(
        self, obs: torch.Tensor, actions: torch.Tensor, returns: torch.Tensor, weights: torch.Tensor | None
    ) -> torch.Tensor:
        """Add to ``.grad`` the gradient of ``policy_loss - ent_coef * mean(entropy) + vf_coef *
        value_loss`` (:func:`reinforce_loss` with these ``weights``), or of ``vf_coef * value_loss``
        alone when ``weights`` is None. Returns the sums over the batch of (weight * log pi,
        (V - G)^2, entropy) ``(3,)`` (zeros for the policy terms without ``weights``)."""
        c, policy, n = self.config, self.policy, len(returns)
        sums = torch.zeros(3, device=returns.device)
        for rows in self._passes(n):
            params, values, saved = policy.forward_train(obs[rows])  # (m, n) logits or means, (m,) or None
            log_prob, entropy = policy.head.log_prob_entropy(params, actions[rows])
            pass_weights = torch.zeros_like(log_prob) if weights is None else weights[rows]
            policy_loss, value_loss = reinforce_loss(log_prob, returns[rows], values, weights=pass_weights)
            if weights is None:  # value-only: the actor's gradient is exactly zero
                loss = c.vf_coef * value_loss
            else:
                loss = policy_loss - c.ent_coef * entropy.mean() + c.vf_coef * value_loss
            share = len(log_prob) / n  # the passes' losses are means over their rows: weight by size
            policy.backward(loss * share, params, values, saved)
            with torch.no_grad():  # sums over the batch of (weight * log pi, (V - G)^2, entropy)
                if weights is not None:
                    sums[0] -= policy_loss * len(log_prob)
                    sums[2] += entropy.sum()
                sums[1] += value_loss * len(log_prob)
        return sums
