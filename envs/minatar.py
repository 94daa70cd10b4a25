"""MinAtar (Young & Tian 2019) as Gymnasium envs: 10x10 versions of five Atari games.

``MinAtar/<Game>-v1`` (Asterix, Breakout, Freeway, Seaquest, SpaceInvaders) wraps the ``minatar``
package's game engine with gymnasium's API: channel-first ``(C, 10, 10)`` uint8 observations
(one 0/1 channel per kind of object), the game's minimal action set, sticky actions (p = 0.1) and
difficulty ramping as in the paper, and ``render()`` as RGB frames (each cell 16x16 pixels, one
colour per channel). The minatar package's own gym module serves observations as booleans and
needs seaborn to render; this one needs neither.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np

GAMES = {"Asterix": "asterix", "Breakout": "breakout", "Freeway": "freeway", "Seaquest": "seaquest",
         "SpaceInvaders": "space_invaders"}  # fmt: skip
"""Env id name -> the minatar package's game name."""
MAX_EPISODE_STEPS = 10_000
"""A time limit, so that no game can run forever under a policy that stalls it."""
CELL = 16
"""Pixels per cell in rendered frames."""


class MinAtarEnv(gym.Env):
    """One MinAtar game; see the module's docstring."""

    metadata = {"render_modes": ["rgb_array"], "render_fps": 15}

    def __init__(self, game: str, render_mode: str | None = None, sticky_action_prob: float = 0.1,
                 difficulty_ramping: bool = True):  # fmt: skip
        from minatar import Environment

        self.game = Environment(game, sticky_action_prob=sticky_action_prob, difficulty_ramping=difficulty_ramping)
        self.actions = self.game.minimal_action_set()
        h, w, c = self.game.state_shape()
        self.observation_space = gym.spaces.Box(0, 1, (c, h, w), dtype=np.uint8)
        self.action_space = gym.spaces.Discrete(len(self.actions))
        self.render_mode = render_mode
        import matplotlib

        palette = matplotlib.colormaps["cubehelix"](np.linspace(0.15, 0.85, c))[:, :3]  # (C, 3) in [0, 1]
        self.palette = np.vstack([np.zeros(3), palette * 255]).astype(np.uint8)  # (C + 1, 3); 0: empty

    def observation(self) -> np.ndarray:
        return np.ascontiguousarray(self.game.state().transpose(2, 0, 1), dtype=np.uint8)  # (C, 10, 10)

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        if seed is not None:
            self.game.seed(seed)
        self.game.reset()
        return self.observation(), {}

    def step(self, action):
        reward, terminated = self.game.act(self.actions[int(action)])
        return self.observation(), float(reward), bool(terminated), False, {}

    def render(self) -> np.ndarray:
        """The board as RGB, ``(10 * CELL, 10 * CELL, 3)`` uint8: each cell the colour of its
        highest channel present (black when empty)."""
        state = self.game.state()  # (10, 10, C) bool
        index = np.max(state * np.arange(1, state.shape[-1] + 1), axis=-1)  # (10, 10), 0 = empty
        return np.repeat(np.repeat(self.palette[index], CELL, axis=0), CELL, axis=1)


def register_minatar() -> None:
    """Register ``MinAtar/<Game>-v1`` for every game (made only if the minatar package is installed)."""
    for name, game in GAMES.items():
        env_id = f"MinAtar/{name}-v1"
        if env_id not in gym.envs.registry:
            gym.register(env_id, entry_point="envs.minatar:MinAtarEnv", kwargs={"game": game},
                         max_episode_steps=MAX_EPISODE_STEPS)  # fmt: skip
