"""Advantage Actor-Critic, synchronous (A2C): the deterministic, batched variant of A3C
(Mnih et al. 2016, "Asynchronous Methods for Deep RL"), as Stable-Baselines3 implements it.

Read top to bottom: the config, the loss, then the learner (collect a short rollout from every
env, compute advantages, take ONE gradient step on the whole rollout).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import torch
import torch.nn.functional as F

from agents.base import Agent
from agents.config import OnPolicyConfig, in_unit_interval, positive
from agents.networks import ActorCritic
from agents.optim import flat_step, make_flat_optimizer, set_lr
from agents.rollout import buffer_for, collect_rollout, explained_variance, reward_scaler_for


@dataclass
class A2CConfig(OnPolicyConfig):
    """A2C hyperparameters (defaults: Stable-Baselines3's)."""

    learning_rate: float = 7e-4
    """initial learning rate"""
    optimizer: str = "rmsprop"
    """sgd | momentum | nesterov | adagrad | rmsprop (alpha 0.99, eps 1e-5 as in SB3) | adam | adamw"""
    n_steps: int = 5
    """steps per env per rollout; one gradient step per n_steps * n_envs transitions"""
    gamma: float = 0.99
    """discount factor"""
    gae_lambda: float = 1.0
    """GAE lambda: 1 = the paper's n-step returns, lower trades variance for bias"""
    ent_coef: float = 0.0
    """entropy bonus weight"""
    vf_coef: float = 0.5
    """value loss weight"""
    normalize_advantage: bool = False
    """normalise advantages over each rollout"""

    def check(self) -> None:
        """Raise ValueError for out-of-range values, with the fix."""
        super().check()
        positive(self, "n_steps")
        in_unit_interval(self, "gamma", "gae_lambda")
        if self.ent_coef < 0 or self.vf_coef < 0:
            raise ValueError(f"ent_coef and vf_coef must be >= 0 (got {self.ent_coef} and {self.vf_coef})")
        if self.normalize_advantage and self.n_steps * self.n_envs < 2:
            raise ValueError("normalize_advantage needs n_steps * n_envs >= 2 transitions; raise n_steps or n_envs")


class A2CLoss(NamedTuple):
    """The parts of the A2C objective (scalars); ``total`` is what is minimised."""

    total: torch.Tensor
    policy: torch.Tensor
    value: torch.Tensor
    entropy: torch.Tensor


def a2c_loss(
    log_prob: torch.Tensor,
    entropy: torch.Tensor,
    values: torch.Tensor,
    advantages: torch.Tensor,
    returns: torch.Tensor,
    ent_coef: float = 0.0,
    vf_coef: float = 0.5,
) -> A2CLoss:
    """A2C's loss on a batch of transitions (every input ``(B,)``).

    policy = -mean(A * log pi(a|s)) (the policy-gradient theorem with the advantage as weight);
    value = mean((R - V(s))^2); entropy = -mean(H[pi(.|s)]) (minimising it raises the entropy);
    total = policy + ent_coef * entropy + vf_coef * value.
    """
    policy_loss = -(advantages.detach() * log_prob).mean()
    value_loss = F.mse_loss(values, returns.detach())
    entropy_loss = -entropy.mean()
    total = policy_loss + ent_coef * entropy_loss + vf_coef * value_loss
    return A2CLoss(total, policy_loss, value_loss, entropy_loss)


class A2C(Agent):
    """A2C: short n-step rollouts from every env, GAE(lambda) advantages, one update per rollout."""

    name = "a2c"
    Config = A2CConfig
    config: A2CConfig

    def build(self) -> None:
        """Actor-critic, RMSProp (by default), rollout buffer."""
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

    def train_iteration(self) -> dict[str, float]:
        """One rollout of ``n_steps`` x ``n_envs`` transitions, then one gradient step on all of it
        (then its observations join the normalisation statistics)."""
        c = self.config
        self.buffer.finish(collect_rollout(self, self.policy, self.buffer), c.gamma, c.gae_lambda)
        metrics = self.update()
        self.policy.update_obs_stats(self.buffer.obs)
        return metrics

    def update(self) -> dict[str, float]:
        """One gradient step on the whole finished rollout in the buffer, at the learning rate of
        the current progress; returns the ``train/*`` figures."""
        c = self.config
        lr = self.lr_now()
        set_lr(self.optimizer, lr)
        data = self.buffer.all()  # (n_steps * n_envs, ...) flattened time-major
        params, values, saved = self.policy.forward_train(data.obs)  # (B, n) logits or means, (B,)
        log_prob, entropy = self.policy.head.log_prob_entropy(params, data.actions)
        if c.ent_coef == 0:  # the entropy term then adds no gradient: keep it out of the backward pass
            entropy = entropy.detach()
        advantages = data.advantages
        if c.normalize_advantage:
            advantages = (advantages - advantages.mean()) / (advantages.std() + 1e-8)
        loss = a2c_loss(log_prob, entropy, values, advantages, data.returns, c.ent_coef, c.vf_coef)
        self.policy.backward(loss.total, params, values, saved)
        flat_step(self.params, self.optimizer, c.max_grad_norm, c.fast)
        total, pg, vf, ent = torch.stack(loss).tolist()  # one sync for the four figures
        metrics = {
            "train/loss": total,
            "train/policy_loss": pg,
            "train/value_loss": vf,
            "train/entropy_loss": ent,
        }
        metrics["train/explained_variance"] = explained_variance(self.buffer.values, self.buffer.returns)
        metrics["train/learning_rate"] = lr
        metrics["train/n_updates"] = self.iterations + 1  # cumulative, as SB3 logs it
        if hasattr(self.policy.head, "log_std"):
            metrics["train/std"] = float(self.policy.head.log_std.detach().exp().mean())
        return metrics
