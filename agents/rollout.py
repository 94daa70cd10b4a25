"""Rollout storage for vectorised envs, discounted returns and GAE(lambda).

Arrays are time-major: ``(T, N)`` = steps x envs. Storage is numpy while collecting (writing a
row is cheaper than building a tensor per step) and becomes torch tensors once per update.

Episode ends come in two kinds (Pardo et al. 2018, "Time limits in RL"):
- ``terminated``: the MDP ended; nothing follows, so no bootstrap.
- ``truncated``: a time limit cut the episode; the return continues past the cut, so the value of
  the *true final observation* (not the reset observation that replaces it) is bootstrapped.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import TYPE_CHECKING, NamedTuple

import numpy as np
import torch

from agents.networks import RunningMeanStd

if TYPE_CHECKING:  # for type hints only; a learner module imports this one, not the other way
    from agents.base import Agent
    from agents.networks import ActorCritic


def discounted_returns(
    rewards: np.ndarray, dones: np.ndarray, gamma: float, bootstrap: np.ndarray | None = None
) -> np.ndarray:
    """Returns-to-go ``G_t = r_t + gamma * G_{t+1}``, restarting after each done. ``(T, N)`` in and out.

    Steps after the last done of a column are summed as if the episode ended at the buffer's end,
    unless ``bootstrap`` ``(N,)`` gives the value of the state that follows the buffer's last step
    (``G_T = bootstrap``): pass V(true final obs) for an episode a time limit cut.
    """
    returns = np.zeros_like(rewards, dtype=np.float32)
    running = np.zeros(rewards.shape[1:], dtype=np.float32)
    if bootstrap is not None:
        running = running + np.asarray(bootstrap, dtype=np.float32)
    for t in reversed(range(len(rewards))):
        running = rewards[t] + gamma * running * (1.0 - dones[t])
        returns[t] = running
    return returns


def gae(
    rewards: np.ndarray,
    values: np.ndarray,
    terminated: np.ndarray,
    truncated: np.ndarray,
    final_values: np.ndarray,
    last_values: np.ndarray,
    gamma: float,
    gae_lambda: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Generalised advantage estimation (Schulman et al. 2016). Returns ``(advantages, returns)``.

    rewards, values, terminated, truncated, final_values: ``(T, N)``; last_values: ``(N,)``, the
    value of the observation after the last step. ``final_values[t]`` is V(true final obs) where
    ``truncated[t]``; it is ignored elsewhere.
    """
    # Everything but the recursion at once: the next state's value (the true final observation's
    # after a truncation, since the stored next value belongs to the reset observation), the TD
    # error, and whether the episode continues past each step.
    next_values = np.concatenate([values[1:], np.asarray(last_values, dtype=values.dtype)[None]])
    next_values = np.where(truncated, final_values, next_values)
    deltas = rewards + gamma * next_values * (1.0 - terminated) - values
    decay = gamma * gae_lambda * (1.0 - np.maximum(terminated, truncated))
    advantages = np.zeros_like(rewards, dtype=np.float32)
    last_adv = np.zeros(rewards.shape[1:], dtype=np.float32)
    for t in reversed(range(len(rewards))):
        last_adv = deltas[t] + decay[t] * last_adv
        advantages[t] = last_adv
    return advantages, advantages + values


class RewardScaler:
    """Reward scaling as Stable-Baselines3's VecNormalize does it: each env keeps a running
    discounted return ``R <- gamma * R + r`` (restarted when its episode ends); rewards are divided
    by the running std of those returns and clipped. It fixes the scale of the value targets
    without moving the optimum (no mean is subtracted). The statistics are ``rms`` (a module,
    saved in checkpoints); the running returns restart with the envs."""

    def __init__(self, n_envs: int, gamma: float, clip: float = 10.0, epsilon: float = 1e-8):
        self.gamma = gamma
        self.rms = RunningMeanStd((), clip, epsilon)
        self.returns = np.zeros(n_envs, dtype=np.float64)

    def reset(self) -> None:
        """Restart every env's running return (the envs were reset)."""
        self.returns[:] = 0.0

    def __call__(self, rewards: np.ndarray, dones: np.ndarray) -> np.ndarray:
        """Scaled rewards ``(N,)`` (float32) for one vector step; ``dones`` ends the running returns."""
        self.returns = self.returns * self.gamma + rewards
        self.rms.update(self.returns)
        scale = 1.0 / math.sqrt(float(self.rms.var.numpy()) + self.rms.epsilon)
        self.returns[dones] = 0.0
        return np.clip(rewards * scale, -self.rms.clip, self.rms.clip).astype(np.float32)


class RolloutBatch(NamedTuple):
    """A minibatch of flattened transitions, as the losses read them."""

    obs: torch.Tensor  # (B, *obs_shape)
    actions: torch.Tensor  # (B, *action_shape)
    old_log_prob: torch.Tensor  # (B,)
    old_values: torch.Tensor  # (B,)
    advantages: torch.Tensor  # (B,)
    returns: torch.Tensor  # (B,)


class RolloutBuffer:
    """Fixed-size storage for ``n_steps`` x ``n_envs`` transitions of an on-policy learner.

    Per rollout: call :meth:`add` once per vector step, then :meth:`finish` with the value of the
    next observation, then iterate :meth:`minibatches` for as many epochs as the learner wants.
    """

    def __init__(
        self,
        n_steps: int,
        n_envs: int,
        obs_shape: tuple[int, ...],
        obs_dtype: np.dtype,
        action_shape: tuple[int, ...],
        action_dtype: np.dtype,
        device: torch.device,
    ):
        self.n_steps, self.n_envs, self.device = n_steps, n_envs, device
        self.obs = np.zeros((n_steps, n_envs, *obs_shape), dtype=obs_dtype)
        self.actions = np.zeros((n_steps, n_envs, *action_shape), dtype=action_dtype)
        self.log_prob = np.zeros((n_steps, n_envs), dtype=np.float32)
        self.values = np.zeros((n_steps, n_envs), dtype=np.float32)
        self.rewards = np.zeros((n_steps, n_envs), dtype=np.float32)
        self.terminated = np.zeros((n_steps, n_envs), dtype=np.float32)
        self.truncated = np.zeros((n_steps, n_envs), dtype=np.float32)
        self.final_values = np.zeros((n_steps, n_envs), dtype=np.float32)
        self.pos = 0
        self._flat: RolloutBatch | None = None

    def add(self, obs, actions, log_prob, values, rewards, terminated, truncated) -> None:
        """Store one vector step (arrays with a leading ``n_envs`` axis)."""
        t = self.pos
        self.obs[t] = obs
        self.actions[t] = actions
        self.log_prob[t] = log_prob
        self.values[t] = values
        self.rewards[t] = rewards
        self.terminated[t] = terminated
        self.truncated[t] = truncated
        self.final_values[t] = 0.0
        self.pos += 1

    def set_final_values(self, env_ids: np.ndarray, final_values: np.ndarray) -> None:
        """Record V(true final obs) for envs truncated at the step just added."""
        self.final_values[self.pos - 1, env_ids] = final_values

    @property
    def full(self) -> bool:
        """True once ``n_steps`` vector steps are stored."""
        return self.pos == self.n_steps

    def finish(self, last_values: np.ndarray, gamma: float, gae_lambda: float) -> None:
        """Compute advantages and returns; call once after the last :meth:`add` of a rollout."""
        advantages, returns = gae(
            self.rewards, self.values, self.terminated, self.truncated,
            self.final_values, last_values, gamma, gae_lambda,
        )  # fmt: skip
        size = self.n_steps * self.n_envs
        self.returns = returns  # (T, N) numpy, beside self.values: explained variance without tensors
        on_cpu = self.device.type == "cpu"

        def flat(a: np.ndarray) -> torch.Tensor:
            t = torch.as_tensor(a.reshape(size, *a.shape[2:]))
            return t if on_cpu else t.to(self.device)

        self._flat = RolloutBatch(
            flat(self.obs), flat(self.actions), flat(self.log_prob), flat(self.values),
            flat(advantages), flat(returns),
        )  # fmt: skip
        self.pos = 0

    def all(self) -> RolloutBatch:
        """The whole rollout as one batch (after :meth:`finish`)."""
        assert self._flat is not None, "call finish() before reading batches"
        return self._flat

    def minibatches(self, batch_size: int, rng: np.random.Generator) -> Iterator[RolloutBatch]:
        """One epoch of shuffled minibatches of ``batch_size`` (after :meth:`finish`)."""
        data = self.all()
        size = len(data.returns)
        if batch_size >= size:
            yield data
            return
        order = torch.as_tensor(rng.permutation(size), device=self.device)
        for start in range(0, size, batch_size):
            idx = order[start : start + batch_size]
            yield RolloutBatch(*(x[idx] for x in data))


def reward_scaler_for(agent: Agent) -> RewardScaler | None:
    """The reward scaler an on-policy learner's config asks for (``normalize_reward``), else None."""
    c = agent.config
    return RewardScaler(c.n_envs, c.gamma) if c.normalize_reward else None


def buffer_for(agent: Agent) -> RolloutBuffer:
    """A rollout buffer sized by an on-policy learner's config (n_steps x n_envs) for its spaces."""
    c = agent.config
    obs_space, action_space = agent.observation_space, agent.action_space
    return RolloutBuffer(
        c.n_steps, c.n_envs, obs_space.shape, obs_space.dtype, action_space.shape, action_space.dtype, agent.device
    )


@torch.inference_mode()
def collect_rollout(agent: Agent, policy: ActorCritic, buffer: RolloutBuffer) -> np.ndarray:
    """Fill ``buffer`` with ``buffer.n_steps`` vector steps of ``policy`` acting through
    ``agent.env_step``; returns V(observation after the last step) ``(N,)`` for
    :meth:`RolloutBuffer.finish`.

    Call once per rollout of an on-policy actor-critic (A2C, PPO), after ``agent.open_envs()``.
    Time-limit truncations are bootstrapped from the true final observation, which SAME_STEP
    autoreset leaves in ``info["final_obs"]``; terminations are not bootstrapped. With gSDE
    (``use_sde``) the exploration matrices are drawn at the start and every ``sde_sample_freq`` steps.
    """
    numpy_acting = policy.numpy_acting(agent.obs)
    for t in range(buffer.n_steps):
        if sde_noise_due(agent.config, t):
            policy.reset_noise(buffer.n_envs)
        obs = agent.obs
        if numpy_acting:
            actions, log_prob, values = policy.act_numpy(obs, agent.rng)
        else:
            out = policy.act(agent.obs_tensor(obs))
            actions, log_prob, values = out.actions.cpu().numpy(), out.log_prob.cpu().numpy(), out.values.cpu().numpy()
        _, rewards, terminated, truncated, info = agent.env_step(agent.to_env_actions(actions))
        buffer.add(obs, actions, log_prob, values, rewards, terminated, truncated)
        cut = truncated & ~terminated
        if cut.any():
            ids = np.flatnonzero(cut)
            final_obs = np.stack(info["final_obs"][ids])
            buffer.set_final_values(ids, value_of(agent, policy, final_obs, numpy_acting))
    return value_of(agent, policy, agent.obs, numpy_acting)


def sde_noise_due(config, step: int) -> bool:
    """Whether a learner with this config draws new gSDE exploration matrices before ``step`` (0:
    the first) of a collection: at its start and every ``sde_sample_freq`` steps (-1: only at the start)."""
    if not config.use_sde:
        return False
    return step == 0 or (config.sde_sample_freq > 0 and step % config.sde_sample_freq == 0)


def value_of(agent: Agent, policy: ActorCritic, obs: np.ndarray, numpy_acting: bool) -> np.ndarray:
    """V(obs) ``(N,)`` as numpy, through the numpy forward when the rollout acts in numpy."""
    if numpy_acting:
        return policy.value_numpy(obs)
    return policy.value(agent.obs_tensor(obs)).cpu().numpy()


def explained_variance(predicted: torch.Tensor | np.ndarray, target: torch.Tensor | np.ndarray) -> float:
    """1 - Var[target - predicted] / Var[target]: 1 is perfect, 0 is a constant guess (tensors or
    numpy arrays; the variance's normalisation cancels in the ratio)."""
    var = target.var()
    return float("nan") if var == 0 else float(1.0 - (target - predicted).var() / var)
