"""Tiny gymnasium envs with known answers, shared by the learner tests (and the tiny envs the
imitation tests take demonstrations in, with their experts)."""

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


TINY = "gymlab_test/Tiny-v0"
TINY_STEPS = 20


class TinyEnv(gym.Env):
    """Observe x in [-1, 1]^2; action 1 is right when x0 + x1 > 0, else 0; reward 1 for the right
    action; 20 steps per episode. The expert's return is 20."""

    observation_space = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)
    action_space = gym.spaces.Discrete(2)
    metadata = {"render_modes": ["rgb_array"]}

    def __init__(self, render_mode=None):
        self.render_mode = render_mode

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        self.x = self.np_random.uniform(-1, 1, 2).astype(np.float32)
        return self.x.copy(), {}

    def step(self, action):
        reward = float(int(action) == expert_action(self.x))
        self.t += 1
        self.x = self.np_random.uniform(-1, 1, 2).astype(np.float32)
        return self.x.copy(), reward, False, self.t >= TINY_STEPS, {}


def expert_action(obs: np.ndarray) -> int:
    """The tiny env's optimal action."""
    return int(obs[0] + obs[1] > 0)


TINY_BOX = "gymlab_test/TinyBox-v0"


class TinyBoxEnv(TinyEnv):
    """:class:`TinyEnv` with two continuous action values: the expert's is
    :func:`expert_box_action`, and the reward is minus the squared distance to it (expert: 0)."""

    action_space = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)

    def step(self, action):
        reward = -float(np.square(np.asarray(action) - expert_box_action(self.x)).sum())
        self.t += 1
        self.x = self.np_random.uniform(-1, 1, 2).astype(np.float32)
        return self.x.copy(), reward, False, self.t >= TINY_STEPS, {}


def expert_box_action(obs: np.ndarray) -> np.ndarray:
    """The tiny Box env's optimal action, inside [-1, 1]^2."""
    return np.array([obs[0] + obs[1], obs[0] - obs[1]], np.float32) / 2


for env_id, entry_point in ((TINY, TinyEnv), (TINY_BOX, TinyBoxEnv)):
    if env_id not in gym.envs.registry:
        gym.register(env_id, entry_point=entry_point)
