"""Playing a trained agent: evaluation episodes, mp4 recordings, and expert demonstrations.

What plays is a gymlab run directory or a Stable-Baselines3 model ``.zip``
(:class:`gymlab.sb3.SB3Player`); :func:`load_player` tells them apart. An expert
(:func:`load_expert`) is either, playing whole episodes for ``gymlab demos``
(:func:`record_expert_demos`); :mod:`envs.demos` holds the file format."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path

import gymnasium as gym
import numpy as np

import envs
from agents import runs
from agents.base import Agent
from envs.demos import Demos, record_demos, save_demos
from envs.pixels import NetworkView
from gymlab.sb3 import SB3Player, is_sb3_model


def load_player(
    path: str | Path, env_id: str | None = None, device: str = "cpu", best: bool = False, env_kwargs: dict | None = None
):
    """What ``gymlab eval``/``record``/``demos`` play: ``(player, run_dir)``, the agent of a gymlab run
    directory (its newest checkpoint, or best.pt with ``best``), or an :class:`SB3Player` for a
    Stable-Baselines3 .zip (``env_id`` required). ``env_kwargs`` make the env the .zip plays, or
    change the run's own (the spaces must stay the run's). ``run_dir`` is where the figures are
    logged: None for a .zip, and for a run playing an env other than its own."""
    path = Path(path)
    if not path.exists():
        raise ValueError(
            f"{path} does not exist; pass a run directory made by gymlab train or a Stable-Baselines3 .zip"
        )
    if is_sb3_model(path):
        if best:
            raise ValueError(f"--best needs a gymlab run directory; {path} is one Stable-Baselines3 model")
        return SB3Player(path, env_id, device, env_kwargs), None
    if env_id is not None:
        raise ValueError("--env is for Stable-Baselines3 .zip models; a gymlab run plays the env it was trained on")
    _, agent = runs.load_run(path, device, best=best)
    return agent, None if change_env_kwargs(agent, env_kwargs or {}) else path


def change_env_kwargs(agent: Agent, env_kwargs: dict) -> bool:
    """Let ``agent`` play its env made with ``env_kwargs`` on top of its own; returns whether that
    changed them. ValueError when the spaces would no longer be the ones it was trained on."""
    kwargs = {**agent.env_kwargs, **env_kwargs}
    if kwargs == agent.env_kwargs:
        return False
    env = envs.make_env(agent.env_id, **kwargs)
    spaces = env.observation_space, env.action_space
    env.close()
    trained = agent.observation_space, agent.action_space
    if spaces != trained:
        shown = envs.make.space_text
        raise ValueError(
            f"{agent.env_id} with {envs.make.env_kwargs_text(env_kwargs)} observes {shown(spaces[0])} and acts in "
            f"{shown(spaces[1])}; the run was trained to observe {shown(trained[0])} and act in {shown(trained[1])}"
        )
    agent.env_kwargs = kwargs
    return True


def load_expert(
    source: str | Path,
    env_id: str | None = None,
    device: str = "cpu",
    deterministic: bool = True,
    best: bool = False,
    env_kwargs: dict | None = None,
) -> tuple[str, dict, Callable[[np.ndarray], np.ndarray]]:
    """An expert as ``(env_id, env_kwargs, policy)``: the env it plays, made with ``env_kwargs``,
    and ``policy``, one observation to one env action.

    ``source`` is a gymlab run directory (its env is the default, ``env_kwargs`` change or add
    to the run's own; ``best``: its best.pt) or a Stable-Baselines3 model ``.zip`` (PPO, A2C,
    DQN, SAC, TD3; SB3 files do not record their env, so ``env_id`` is required). SB3 unpickles
    parts of its files: only load models you trust.
    """
    expert, _ = load_player(source, env_id if is_sb3_model(source) else None, device, best, env_kwargs)
    if env_id is not None and env_id != expert.env_id:
        raise ValueError(f"{source} was trained on {expert.env_id}, not {env_id}; drop --env or pick another run")
    return expert.env_id, expert.env_kwargs, expert.policy_fn(deterministic)


def record_expert_demos(
    source: str | Path,
    episodes: int,
    out: str | Path,
    env_id: str | None = None,
    seed: int = 0,
    device: str = "cpu",
    deterministic: bool = True,
    best: bool = False,
    env_kwargs: dict | None = None,
) -> tuple[Demos, Path]:
    """``gymlab demos``: let the expert at ``source`` (see :func:`load_expert`) play ``episodes``
    episodes (seeds ``seed``, ``seed + 1``, ...) and save them to ``out``."""
    env_id, env_kwargs, policy = load_expert(source, env_id, device, deterministic, best, env_kwargs)
    env = envs.make_env(env_id, **env_kwargs)
    try:
        demos = record_demos(env, policy, episodes, env_id, seed, env_kwargs)
    finally:
        env.close()
    return demos, save_demos(demos, out)


TENSORBOARD_FRAMES = 1000
"""At most this many frames of the first episode go to TensorBoard (an untrained Atari policy can
play 27,000 steps; the mp4 holds them all)."""


class FrameTap(gym.Wrapper):
    """Keeps the first ``limit`` frames that pass through ``render()`` (placed inside RecordVideo,
    so the frames written to the mp4 can also go to TensorBoard without rendering twice)."""

    def __init__(self, env: gym.Env, limit: int = TENSORBOARD_FRAMES):
        super().__init__(env)
        self.frames: list[np.ndarray] = []
        self.limit = limit

    def render(self):
        frame = self.env.render()
        if frame is not None and len(self.frames) < self.limit:
            self.frames.append(np.asarray(frame))
        return frame


def video_prefix(agent: Agent | SB3Player) -> str:
    """The start of a recording's file name: ``<agent>-<env>`` (``/`` in ids becomes ``_``)."""
    return f"{agent.name}-{agent.env_id.replace('/', '_')}"


def video_name(agent: Agent | SB3Player, source: Path, best: bool = False) -> str:
    """What a recording of ``agent`` loaded from ``source`` is called, before ``-episode-N.mp4``:
    ``<agent>-<env>-<run>-step<N>[-best]`` for a gymlab run, ``<agent>-<env>-<file>-step<N>`` for an
    SB3 .zip, so recordings of different runs and weights never share a name."""
    source = Path(source)
    name = source.stem if is_sb3_model(source) else source.resolve().name
    return f"{video_prefix(agent)}-{name}-step{agent.num_timesteps}{'-best' if best else ''}"


def unused_prefix(out_dir: Path, prefix: str) -> str:
    """``prefix``, or ``prefix-take2``, ``-take3``, ... : the first that no mp4 in ``out_dir`` uses
    (recording the same weights again adds files instead of replacing them)."""
    candidate, take = prefix, 1
    while any(Path(out_dir).glob(f"{candidate}-episode-*.mp4")):
        take += 1
        candidate = f"{prefix}-take{take}"
    return candidate


def record(
    agent: Agent | SB3Player,
    out_dir: Path,
    episodes: int = 1,
    deterministic: bool = True,
    seed: int | None = 0,
    prefix: str | None = None,
    on_video: Callable[[Path, float, int], None] | None = None,
    network_view: bool = False,
    on_start: Callable[[], None] | None = None,
    max_steps: int | None = None,
) -> tuple[list[Path], dict[str, float], np.ndarray]:
    """Record ``episodes`` episodes of ``agent`` as mp4 files in ``out_dir`` with gymnasium's
    RecordVideo, named ``<prefix>-episode-<i>.mp4`` (``prefix`` made unused in ``out_dir`` first:
    nothing is overwritten). ``on_start()`` is called once the env renders, before the first episode;
    ``on_video(path, return, length)`` as each file is written. ``max_steps`` cuts each episode
    after that many steps (as a time limit does; default: the env's own limit).
    Returns (mp4 paths, evaluation stats, frames of the first episode). ValueError, with the fix,
    when the env cannot render here. Pixel games record the game's full-resolution frames; with
    ``network_view``, what the network sees is drawn beside them (:class:`envs.pixels.NetworkView`)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    env = envs.make_env(agent.env_id, render_mode="rgb_array", **agent.env_kwargs)
    try:
        envs.make.check_rendering(env)
    except ValueError:
        env.close()
        raise
    if network_view:
        try:
            env = NetworkView(env)
        except ValueError:
            env.close()
            raise
    if max_steps is not None:
        env = gym.wrappers.TimeLimit(env, max_steps)
    if env.metadata.get("render_fps") is None:
        env.metadata["render_fps"] = 30
    if on_start is not None:
        on_start()
    tap = FrameTap(env, TENSORBOARD_FRAMES)
    prefix = unused_prefix(out_dir, prefix or video_prefix(agent))
    first: list[np.ndarray] = []
    written: list[Path] = []

    def episode_done(episode_return: float, length: int) -> None:
        if not first:
            first.extend(tap.frames)
        tap.frames.clear()  # only the first episode's frames are kept
        written.append(out_dir / f"{prefix}-episode-{len(written)}.mp4")
        if on_video is not None:
            on_video(written[-1], episode_return, length)

    with warnings.catch_warnings():  # the folder may hold other recordings; their names differ
        warnings.filterwarnings("ignore", message=".*Overwriting existing videos.*")
        video = gym.wrappers.RecordVideo(
            tap, str(out_dir), episode_trigger=lambda _: True, name_prefix=prefix, disable_logger=True
        )
    try:
        stats = agent.evaluate(episodes, deterministic, seed=seed, env=video, on_episode=episode_done)
    finally:
        video.close()
    return written, stats, np.stack(first) if first else np.zeros((0, 1, 1, 3), np.uint8)
