"""Tiny gymnasium envs with known answers, shared by the learner tests."""

import gymnasium as gym
import numpy as np


class Counter(gym.Env):
    """obs = steps taken so far (t), reward 1 per step; terminates when t reaches ``terminate_at``.
    A time limit (``max_episode_steps``) truncates it."""

    observation_space = gym.spaces.Box(0.0, 100.0, (1,), np.float32)
    action_space = gym.spaces.Discrete(2)

    def __init__(self, terminate_at: int | None = None, render_mode: str | None = None):
        self.terminate_at, self.t = terminate_at, 0

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return np.array([0.0], np.float32), {}

    def step(self, action):
        self.t += 1
        return np.array([self.t], np.float32), 1.0, self.t == self.terminate_at, False, {}


class ContextBandit(gym.Env):
    """One-step episodes: the observation is a context c in {0, 1}; action c pays 1, the other 0."""

    observation_space = gym.spaces.Discrete(2)
    action_space = gym.spaces.Discrete(2)

    def __init__(self, render_mode: str | None = None):
        self.context = 0

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.context = int(self.np_random.integers(2))
        return self.context, {}

    def step(self, action):
        return self.context, float(action == self.context), True, False, {}


COUNTER, BANDIT = "toy/Counter-v0", "toy/ContextBandit-v0"
gym.register(COUNTER, entry_point=Counter, max_episode_steps=3)
gym.register(BANDIT, entry_point=ContextBandit)
