"""envpool's C++ vector envs behind gymlab's vector-env contract (``vectorization=envpool``).

envpool steps every copy of an env in C++ threads. gymlab trains on a SAME_STEP vector env with
``final_obs`` and RecordEpisodeStatistics' ``episode`` infos; envpool resets an ended copy on the
*next* step (NEXT_STEP) and keeps no statistics, so :class:`EnvpoolVectorEnv` resets ended copies
in the same step (envpool's partial reset) and keeps the statistics itself.

Offered only for the envs whose envpool dynamics were checked against gymnasium's
(tests/envs/test_envpool.py):

- CartPole-v1, Acrobot-v1, MountainCar-v0, MountainCarContinuous-v0: gymnasium's step from the
  same state gives envpool's next observation (to float32 rounding), reward, termination and
  truncation; the initial states come from envpool's own generator, so a seed gives other
  episodes than gymnasium's, drawn from the same start distribution.
- ``ALE/<Game>-v5``: envpool runs the same emulator; from the same emulator RAM and actions its
  84x84 frames, rewards and game ends are gymnasium's (:mod:`envs.pixels`) bit for bit. envpool's
  own episodic life gives other observations after a lost life (it keeps the old frames in the
  stack), so the learner's episodic life, FIRE and reward clipping are done here as
  :mod:`envs.pixels` does them. Sticky actions (v5: 0.25) and the no-op starts (up to 30) are
  drawn by envpool's generator.

Not offered: Pendulum-v1 (envpool moves the angle by the unclipped speed when the speed hits its
limit of 8; gymnasium by the clipped speed), and every env not checked (a one-line refusal).
"""

from __future__ import annotations

import importlib.util
import warnings

import gymnasium as gym
import numpy as np
from gymnasium.vector import AutoresetMode

from envs import pixels
from envs.native import EpisodeRecorder

CLASSIC = ("CartPole-v1", "Acrobot-v1", "MountainCar-v0", "MountainCarContinuous-v0")
"""gymnasium ids whose envpool version has gymnasium's dynamics (same id in envpool)."""

DIFFERENT = {
    "Pendulum-v1": "envpool's Pendulum-v1 moves the angle by the unclipped speed when the speed hits its limit "
    "(gymnasium by the clipped speed), so its episodes differ",
}
"""Envs envpool has whose episodes differ from gymnasium's, and how."""

NOOP, FIRE = 0, 1
STICKY_ACTIONS = 0.25  # gymnasium's ALE v5 default repeat_action_probability
NOOP_MAX = 30
MAX_ATARI_STEPS = 27_000  # 108,000 frames: ALE v5's max_num_frames_per_episode / frame skip 4


def installed() -> bool:
    """Whether envpool can be imported here."""
    return importlib.util.find_spec("envpool") is not None


def envpool_id(env_id: str) -> str:
    """envpool's id for a gymnasium id it serves (``ALE/Breakout-v5`` -> ``Breakout-v5``)."""
    return env_id.removeprefix("ALE/")


def check_supported(env_id: str, env_kwargs: dict | None = None, video: bool = False) -> None:
    """Raise a one-line ``ValueError`` naming what to use instead when envpool cannot serve ``env_id``
    with the same episodes as gymnasium (or is not installed)."""
    instead = "use vectorization=auto, sync or async"
    if env_id in DIFFERENT:
        raise ValueError(f"vectorization=envpool refuses {env_id}: {DIFFERENT[env_id]}; {instead}")
    atari = env_id.startswith("ALE/") and env_id.endswith("-v5")
    if env_id not in CLASSIC and not atari:
        raise ValueError(
            f"vectorization=envpool serves {', '.join(CLASSIC)} and the ALE/<Game>-v5 games (the envs tested "
            f"equal to gymnasium's), not {env_id}; {instead}"
        )
    if not installed():
        raise ValueError(
            f"vectorization=envpool needs envpool (pip install -e '.[envpool]', Python >= 3.11); {instead}"
        )
    if env_kwargs:
        raise ValueError(f"vectorization=envpool takes no env kwargs (got {', '.join(env_kwargs)}); {instead}")
    if video:
        raise ValueError(f"vectorization=envpool cannot record training videos; {instead}")
    if atari:
        import envpool

        if envpool_id(env_id) not in envpool.list_all_envs():
            raise ValueError(f"envpool has no {envpool_id(env_id)} (its Atari list differs from ale-py's); {instead}")


def make_pool(env_id: str, num_envs: int, seeds: list[int], **overrides):
    """envpool's gymnasium vector env for ``env_id``, copy ``i`` seeded with ``seeds[i]``. Atari:
    gymlab's frames (84x84 grayscale, frame skip 4 with max-pooling, 4 stacked, sticky actions and
    no-op starts as ALE v5 + :mod:`envs.pixels`), whole games (no episodic life, raw rewards)."""
    import envpool

    config: dict = {"num_envs": num_envs, "seed": seeds[0], "env_seed": list(seeds)}
    if env_id.startswith("ALE/"):
        config.update(
            frame_skip=pixels.ATARI_FRAME_SKIP, stack_num=pixels.ATARI_FRAMES, img_height=84, img_width=84,
            gray_scale=True, noop_max=NOOP_MAX, repeat_action_probability=STICKY_ACTIONS,
            episodic_life=False, reward_clip=False, use_fire_reset=False, max_episode_steps=MAX_ATARI_STEPS,
        )  # fmt: skip
    with warnings.catch_warnings():  # envpool's float64 Box bounds cast to float32 (its spaces are built lazily)
        warnings.simplefilter("ignore", UserWarning)
        pool = envpool.make_gymnasium(envpool_id(env_id), **{**config, **overrides})
        pool.observation_space, pool.action_space  # noqa: B018
    return pool


def random_seed() -> int:
    """A seed for copies reset without one (as gymnasium draws fresh entropy)."""
    return int(np.random.SeedSequence().generate_state(1)[0] >> 1)


class EnvpoolVectorEnv(gym.vector.VectorEnv):
    """``num_envs`` copies of a classic-control env stepped by envpool, with gymnasium's SAME_STEP
    autoreset (``final_obs``) and RecordEpisodeStatistics' ``episode`` / ``_episode`` infos.
    Spaces and dtypes (float64 rewards, float32 or uint8 observations) are those of ``probe``,
    gymlab's gymnasium env for the same id (closed here). ``overrides`` go to
    ``envpool.make_gymnasium`` (the tests turn off Atari's random parts with them)."""

    metadata = {"autoreset_mode": AutoresetMode.SAME_STEP, "render_modes": []}

    def __init__(self, probe: gym.Env, num_envs: int, **overrides):
        env_id = probe.spec.id
        check_supported(env_id)
        self.single_observation_space, self.single_action_space = probe.observation_space, probe.action_space
        self.fire = env_id.startswith("ALE/") and pixels.waits_for_fire(probe)  # (Atari only)
        probe.close()
        self.env_id, self.num_envs, self.overrides = env_id, num_envs, overrides
        self.observation_space = gym.vector.utils.batch_space(self.single_observation_space, num_envs)
        self.action_space = gym.vector.utils.batch_space(self.single_action_space, num_envs)
        self.spec, self.render_mode = gym.spec(env_id), None
        self.episodes = EpisodeRecorder(num_envs)
        self.pool = self._pool(random_seed())

    def _pool(self, seed: int):
        return make_pool(self.env_id, self.num_envs, [seed + i for i in range(self.num_envs)], **self.overrides)

    def _reseed(self, seed: int | None, options: dict | None) -> None:
        if options:
            raise ValueError("envpool resets take no options; use vectorization=sync for reset options")
        if seed is None:
            return
        if not isinstance(seed, int):
            raise ValueError(f"envpool resets take one int seed (copy i gets seed + i), got {seed!r}")
        self.pool.close()
        self.pool = self._pool(seed)

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        """Reset every copy; an int ``seed`` seeds copy ``i`` with ``seed + i`` (envpool's generator,
        not gymnasium's: other start states than gymnasium's for the same seed)."""
        self._reseed(seed, options)
        obs, _ = self.pool.reset()
        self.episodes.restart()
        return obs, {}

    def step(self, actions):
        """Step every copy; ended copies are reset in the same step (``final_obs`` holds their last
        observation) and report ``episode`` statistics."""
        obs, rewards, terminated, truncated, _ = self.pool.step(np.asarray(actions))
        rewards = rewards.astype(np.float64)
        infos: dict = {}
        done = terminated | truncated
        if done.any():
            ids = np.flatnonzero(done)
            infos.update(final_observations(obs, done))
            obs[ids] = self.pool.reset(ids.astype(np.int32))[0]
        self.episodes.step(rewards, done, infos)
        return obs, rewards, terminated, truncated, infos

    def close_extras(self, **kwargs) -> None:
        """Release envpool's threads."""
        self.pool.close()


def final_observations(obs: np.ndarray, done: np.ndarray) -> dict:
    """The SAME_STEP infos of the copies that ended: their last observations and empty final infos."""
    final_obs = np.full(len(done), None, dtype=object)
    for i in np.flatnonzero(done):
        final_obs[i] = obs[i].copy()
    return {"final_obs": final_obs, "_final_obs": done.copy(), "final_info": {}, "_final_info": done.copy()}


class EnvpoolAtariVectorEnv(EnvpoolVectorEnv):
    """Atari games stepped by envpool (one 84x84 frame per step, frame skip and max-pooling in C++)
    with the rest of :func:`envs.pixels.atari`'s training pipeline done here on arrays: FIRE after
    resets, episodic life (a lost life ends the learner's episode; the game goes on after a no-op
    and FIRE), rewards clipped to their sign, the last 4 frames stacked (a reset fills the stack
    with its frame). The ``episode`` infos are whole games' raw scores, as :class:`envs.pixels.GameEpisodes`
    logs them; their lengths count agent steps times the frame skip (envpool does not report its
    no-op frames). ``ram`` holds every copy's emulator RAM after the last step (for the tests)."""

    def __init__(self, probe: gym.Env, num_envs: int, **overrides):
        super().__init__(probe, num_envs, **overrides)
        self.stack = np.zeros((num_envs, pixels.ATARI_FRAMES, 84, 84), dtype=np.uint8)  # (N, 4, 84, 84)
        self.lives = np.zeros(num_envs, dtype=np.int64)
        self.scores = np.zeros(num_envs)
        self.lengths = np.zeros(num_envs, dtype=np.int64)
        self.ram = np.zeros((num_envs, 128), dtype=np.uint8)

    def _pool(self, seed: int):
        return make_pool(
            self.env_id, self.num_envs, [seed + i for i in range(self.num_envs)], **{"stack_num": 1, **self.overrides}
        )

    def _act(self, ids: np.ndarray, action: int):
        """One agent step of copies ``ids`` with the same ``action``: frames ``(len(ids), 84, 84)``,
        raw rewards, and whether each game ended; the score and length count it."""
        frames, rewards, terminated, truncated, info = self.pool.step(np.full(len(ids), action), ids.astype(np.int32))
        self._note(ids, info, rewards)
        return frames[:, -1], terminated | truncated

    def _note(self, ids: np.ndarray, info: dict, rewards: np.ndarray | None = None) -> None:
        self.lives[ids] = info["lives"]
        self.ram[ids] = info["ram"]
        if rewards is not None:
            self.scores[ids] += rewards
            self.lengths[ids] += pixels.ATARI_FRAME_SKIP

    def _restart(self, ids: np.ndarray) -> np.ndarray:
        """New games in copies ``ids`` (envpool's no-op starts), without FIRE; their frames."""
        frames, info = self.pool.reset(ids.astype(np.int32))
        self._note(ids, info)
        self.scores[ids], self.lengths[ids] = 0.0, 0
        return frames[:, -1]

    def _new_game(self, ids: np.ndarray) -> np.ndarray:
        """New games in copies ``ids``, then FIRE (:class:`envs.pixels.FireReset`; a game that FIRE
        ended starts again without it); their frames."""
        frames = self._restart(ids)
        if self.fire:
            frames, over = self._act(ids, FIRE)
            if over.any():
                frames[over] = self._restart(ids[over])
        return frames

    def _next_life(self, ids: np.ndarray) -> np.ndarray:
        """EpisodicLife's reset in copies ``ids`` that lost a life: a no-op step (a new game if it
        ended the game), then FIRE as after every reset; their frames."""
        frames, over = self._act(ids, NOOP)
        if over.any():
            frames[over] = self._restart(ids[over])
        if self.fire:
            frames, over = self._act(ids, FIRE)
            if over.any():
                frames[over] = self._restart(ids[over])
        return frames

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        """New games in every copy; an int ``seed`` seeds copy ``i`` with ``seed + i`` (envpool's
        generator: other no-op starts and sticky actions than gymnasium's for the same seed)."""
        self._reseed(seed, options)
        self.stack[:] = self._new_game(np.arange(self.num_envs))[:, None]
        self.episodes.restart()
        return self.stack.copy(), {}

    def step(self, actions):
        """One agent step of every copy: learner rewards clipped to their sign, a lost life ends the
        learner's episode (``terminated``), ended copies continue or start a new game in the same
        step (``final_obs`` holds their last stack) and ended games report ``episode`` scores."""
        ids = np.arange(self.num_envs)
        frames, rewards, terminated, truncated, info = self.pool.step(np.asarray(actions))
        lives_before = self.lives.copy()
        self._note(ids, info, rewards)
        self.stack = np.concatenate([self.stack[:, 1:], frames[:, -1:]], axis=1)  # newest frame last
        game_over = terminated | truncated
        life_lost = (self.lives > 0) & (self.lives < lives_before) & ~game_over
        terminated = terminated | life_lost
        done = terminated | truncated
        infos: dict = {}
        if done.any():
            infos.update(final_observations(self.stack, done))
        if game_over.any():
            infos["episode"] = {"r": np.where(game_over, self.scores, 0.0), "l": np.where(game_over, self.lengths, 0)}
            infos["_episode"] = game_over.copy()
            over = np.flatnonzero(game_over)
            self.stack[over] = self._new_game(over)[:, None]
        if life_lost.any():
            lost = np.flatnonzero(life_lost)
            self.stack[lost] = self._next_life(lost)[:, None]
        return self.stack.copy(), np.sign(rewards).astype(np.float64), terminated, truncated, infos


def make_envpool_vec_env(probe: gym.Env, num_envs: int, **overrides) -> EnvpoolVectorEnv:
    """The envpool vector env for the id of ``probe`` (gymlab's training env for it, which gives the
    spaces); refused in one line where it would not give gymnasium's episodes."""
    atari = probe.spec.id.startswith("ALE/")
    return (EnvpoolAtariVectorEnv if atari else EnvpoolVectorEnv)(probe, num_envs, **overrides)
