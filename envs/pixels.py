"""Games played from pixels: the standard preprocessing, chosen by env id.

Atari (``ALE/<Game>-v5``, through ale-py), as in SB3's ``AtariWrapper`` and CleanRL's ppo_atari,
built from gymnasium's own wrappers:

    ALE env (frameskip 1)
    -> GameScore              the unclipped score of whole games, for the logs (``info["episode"]``)
    -> AtariPreprocessing     up to 30 no-op starts, frame skip 4 with max-pooling, 84x84 grayscale
    -> EpisodicLife           training only: a lost life ends the episode for the learner, not the game
    -> FireReset              games that wait for FIRE (Breakout, ...) get it after each reset
    -> ClipReward(-1, 1)      training only: Atari's integer rewards to their sign
    -> FrameStackObservation  the last 4 frames, (4, 84, 84) uint8

CarRacing-v3: grayscale, 64x64, the last 2 frames (rl-baselines3-zoo's wrappers), (2, 64, 64) uint8.

MinAtar (``MinAtar/<Game>-v1``, 10x10 images with one channel per object) needs no preprocessing:
:mod:`envs.minatar` serves it channel-first.

Observations stay uint8 up to the network (:func:`agents.networks.preprocess` scales them), and
``render()`` still returns the game's full-resolution RGB frames, so videos show the real game.
"""

from __future__ import annotations

from collections.abc import Callable

import gymnasium as gym
import numpy as np

ATARI_FRAME_SKIP = 4
ATARI_FRAMES = 4
CAR_RACING_SIZE = 64
CAR_RACING_FRAMES = 2


class GameScore(gym.Wrapper):
    """``info["episode"] = {"r": score, "l": frames, "game": True}`` when the game ends: the raw
    score of a whole game (all lives), as SB3's Monitor reports it under its Atari wrappers.
    The vector envs log these instead of the learner's shorter, clipped episodes."""

    def __init__(self, env: gym.Env):
        super().__init__(env)
        self.score, self.length = 0.0, 0

    def reset(self, **kwargs):
        self.score, self.length = 0.0, 0
        return self.env.reset(**kwargs)

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        self.score += float(reward)
        self.length += 1
        if terminated or truncated:
            info = {**info, "episode": {"r": self.score, "l": self.length, "game": True}}
        return obs, reward, terminated, truncated, info


class EpisodicLife(gym.Wrapper):
    """A lost life ends the learner's episode (``terminated``) while the game goes on: the next
    ``reset()`` only steps a no-op, unless the game itself is over (Mnih et al. 2015; SB3's
    ``EpisodicLifeEnv``). Training only: evaluation plays whole games."""

    def __init__(self, env: gym.Env):
        super().__init__(env)
        self.lives = 0
        self.game_over = True

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        self.game_over = terminated or truncated
        lives = self.env.unwrapped.ale.lives()
        if 0 < lives < self.lives:
            terminated = True  # a life lost: the learner's episode ends here
        self.lives = lives
        return obs, reward, terminated, truncated, info

    def reset(self, **kwargs):
        if self.game_over:
            obs, info = self.env.reset(**kwargs)
        else:  # only a life was lost: continue the same game with one no-op step
            obs, _, terminated, truncated, info = self.env.step(0)
            if terminated or truncated:  # the no-op ended the game after all
                obs, info = self.env.reset(**kwargs)
        self.lives = self.env.unwrapped.ale.lives()
        self.game_over = False
        return obs, info


class FireReset(gym.Wrapper):
    """Press FIRE after every reset in games that wait for it (Breakout's ball, ...), so that an
    agent that has not learned to press it yet still plays (SB3's ``FireResetEnv``)."""

    def reset(self, **kwargs):
        obs, info = self.env.reset(**kwargs)
        obs, _, terminated, truncated, info = self.env.step(1)
        if terminated or truncated:
            obs, info = self.env.reset(**kwargs)
        return obs, info


def waits_for_fire(env: gym.Env) -> bool:
    """Whether the game's action 1 is FIRE (the games that wait for it to start)."""
    meanings = env.unwrapped.get_action_meanings()
    return len(meanings) >= 3 and meanings[1] == "FIRE"


def atari(env: gym.Env, training: bool) -> gym.Env:
    """The standard Atari pipeline (see the module's docstring); episodic life and reward clipping
    only when ``training``."""
    env = GameScore(env)
    env = gym.wrappers.AtariPreprocessing(
        env, noop_max=30, frame_skip=ATARI_FRAME_SKIP, screen_size=84, grayscale_obs=True, scale_obs=False
    )
    if training:
        env = EpisodicLife(env)
    if waits_for_fire(env):
        env = FireReset(env)
    if training:
        env = gym.wrappers.ClipReward(env, -1.0, 1.0)
    return gym.wrappers.FrameStackObservation(env, ATARI_FRAMES)


def car_racing(env: gym.Env, training: bool) -> gym.Env:
    """CarRacing from pixels: grayscale, 64x64, the last 2 frames; (2, 64, 64) uint8."""
    env = gym.wrappers.GrayscaleObservation(env)
    env = gym.wrappers.ResizeObservation(env, (CAR_RACING_SIZE, CAR_RACING_SIZE))
    return gym.wrappers.FrameStackObservation(env, CAR_RACING_FRAMES)


def pipeline(env_id: str) -> Callable[[gym.Env, bool], gym.Env] | None:
    """The preprocessing ``env_id`` is played through, or None for envs used as they are."""
    if env_id.startswith("ALE/"):
        return atari
    if env_id.startswith("CarRacing-"):
        return car_racing
    return None


def make_kwargs(env_id: str) -> dict:
    """Constructor arguments the pipeline needs from the raw env (ALE skips frames itself otherwise)."""
    return {"frameskip": 1} if pipeline(env_id) is atari else {}


def network_view(obs: np.ndarray, height: int) -> np.ndarray:
    """What the network sees, as an RGB frame ``height`` pixels high: the newest frame of a stack
    ``(K, H, W)`` (or a channel-first image), upscaled by repetition; uint8 ``(height, W', 3)``."""
    frame = np.asarray(obs)
    frame = frame[-1] if frame.ndim == 3 else frame  # the newest of the stacked frames
    if frame.dtype != np.uint8:
        frame = (np.clip(frame, 0, 1) * 255).astype(np.uint8)
    scale = max(1, height // frame.shape[0])
    big = np.repeat(np.repeat(frame, scale, axis=0), scale, axis=1)
    padded = np.zeros((height, big.shape[1]), dtype=np.uint8)
    padded[: min(height, big.shape[0])] = big[:height]
    return np.repeat(padded[..., None], 3, axis=2)


class GameEpisodes(gym.vector.VectorWrapper):
    """Episode statistics of whole games for a vector env of :class:`GameScore` envs: the
    ``episode`` / ``_episode`` infos become the games that ended this step (their raw scores), in
    place of the learner's episodes (single lives, clipped rewards)."""

    def step(self, actions):
        obs, rewards, terminated, truncated, infos = self.env.step(actions)
        infos.pop("episode", None)
        infos.pop("_episode", None)
        final = infos.get("final_info", {})
        if "_episode" in final:
            ended = np.asarray(final["_episode"], dtype=bool)  # the envs whose final info holds a game
            if ended.any():
                infos["episode"] = {key: np.where(ended, final["episode"][key], 0) for key in ("r", "l")}
                infos["_episode"] = ended
        return obs, rewards, terminated, truncated, infos


class NetworkView(gym.Wrapper):
    """``render()`` shows the game's frame with what the network sees beside it: the newest
    frame of the observation, upscaled to the frame's height (:func:`network_view`)."""

    def __init__(self, env: gym.Env):
        if len(env.observation_space.shape or ()) != 3:
            raise ValueError(f"--network-view needs image observations; {env.spec.id if env.spec else env} "
                             f"observes {env.observation_space}")  # fmt: skip
        super().__init__(env)
        self.obs = None

    def reset(self, **kwargs):
        self.obs, info = self.env.reset(**kwargs)
        return self.obs, info

    def step(self, action):
        self.obs, reward, terminated, truncated, info = self.env.step(action)
        return self.obs, reward, terminated, truncated, info

    def render(self):
        frame = self.env.render()
        if self.obs is None:
            return frame
        return np.concatenate([frame, network_view(self.obs, frame.shape[0])], axis=1)
