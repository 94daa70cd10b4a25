"""Playing whole episodes of a policy to score it: what ``Agent.evaluate``, ``gymlab eval`` and
SB3 models share. A supervised single-step env is scored over a whole split."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np

import envs
from supervised import KINDS

EPISODE_INFO_METRICS: tuple[str, ...] = tuple(dict.fromkeys(kind.metric for kind in KINDS.values()))
"""Numbers an env may put in the last step's ``info`` (each kind's metric: accuracy, mse);
:meth:`Agent.evaluate` averages them."""


def play_episodes(
    env: gym.Env,
    policy: Callable[[Any], np.ndarray],
    episodes: int,
    seed: int | None = None,
    on_episode: Callable[[float, int], None] | None = None,
    seed_first_only: bool = False,
) -> dict[str, float]:
    """Play ``episodes`` whole episodes of ``policy`` (one observation -> one env action) in
    ``env``; return ``mean_reward``, ``std_reward``, ``mean_ep_length`` and the mean of every
    :data:`EPISODE_INFO_METRICS` key the env reports at episode ends. Episode i is reset with
    ``seed + i`` (``seed_first_only``: only the first is seeded); ``on_episode(return, length)``
    after each."""
    returns, lengths = [], []
    reported: dict[str, list[float]] = {key: [] for key in EPISODE_INFO_METRICS}
    for episode in range(episodes):
        unseeded = seed is None or (seed_first_only and episode > 0)
        obs, _ = env.reset(seed=None if unseeded else seed + episode)
        done, episode_return, length, info = False, 0.0, 0, {}
        while not done:
            obs, reward, terminated, truncated, info = env.step(policy(obs))
            episode_return += float(reward)
            length += 1
            done = terminated or truncated
        returns.append(episode_return)
        lengths.append(length)
        for key, values in reported.items():
            if key in info:
                values.append(float(info[key]))
        if on_episode is not None:
            on_episode(episode_return, length)
    stats = {
        "mean_reward": float(np.mean(returns)),
        "std_reward": float(np.std(returns)),
        "mean_ep_length": float(np.mean(lengths)),
    }
    stats.update({key: float(np.mean(values)) for key, values in reported.items() if values})
    return stats


def make_eval_env(env_id: str, env_kwargs: dict | None = None, split: str = "test") -> tuple[gym.Env, int | None]:
    """An env to evaluate on, and how many episodes make one full evaluation (None: as many as
    asked). A single-step supervised env is opened on ``split`` (the test split; "val" for
    choosing a model) with one episode per example, so the figures cover the whole split."""
    env_kwargs = env_kwargs or {}
    env = envs.make_env(env_id, **env_kwargs)
    if not isinstance(env.unwrapped, envs.SingleStepEnv):
        return env, None
    env.close()
    env = envs.make_env(env_id, **{**env_kwargs, "split": split})
    return env, len(env.unwrapped.dataset)


def describe_evaluation(env_id: str, env_kwargs: dict | None = None, split: str | None = "test") -> str | None:
    """For a single-step env, the line that says which split an evaluation scores and what its
    reward is (label mode: 1 for a right label; prediction mode: -loss); None for other envs.
    ``split`` None: the env's own (what ``record`` plays)."""
    env_kwargs = dict(env_kwargs or {})
    env = envs.make_env(env_id, **env_kwargs)
    env.close()
    if not isinstance(env.unwrapped, envs.SingleStepEnv):
        return None
    env = envs.make_env(env_id, **{**env_kwargs, "split": split} if split is not None else env_kwargs)
    env.close()
    return env.unwrapped.reward_text()


def evaluate_policy(
    env_id: str,
    env_kwargs: dict | None,
    policy: Callable[[Any], np.ndarray],
    episodes: int = 10,
    seed: int | None = None,
    env: gym.Env | None = None,
    on_episode: Callable[[float, int], None] | None = None,
    split: str = "test",
) -> dict[str, float]:
    """:func:`play_episodes` on ``env``, or on a fresh :func:`make_eval_env` (closed after; on a
    single-step env one full pass over ``split``, only its first episode seeded)."""
    if env is not None:
        return play_episodes(env, policy, episodes, seed, on_episode)
    env, full_evaluation = make_eval_env(env_id, env_kwargs, split)
    try:
        episodes = full_evaluation or episodes
        return play_episodes(env, policy, episodes, seed, on_episode, seed_first_only=bool(full_evaluation))
    finally:
        env.close()
