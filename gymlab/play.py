"""Watching a trained agent: evaluation episodes and mp4 recordings."""

from __future__ import annotations

import time
import warnings
from pathlib import Path

import gymnasium as gym
import numpy as np

import envs
from agents.base import Agent
from agents.evaluation import evaluate_policy


class SB3Player:
    """A Stable-Baselines3 model (.zip) as ``gymlab eval`` and ``gymlab record`` play it: the same
    episodes (reset with ``seed + i``) and the same figures as for a gymlab run. VecNormalize
    statistics saved beside the model (:func:`agents.imitation.vecnormalize_path`) standardise its
    observations; Atari wrappers are not rebuilt. SB3 unpickles parts of its files (and the
    statistics are a pickle): only load models you trust."""

    def __init__(self, path: str | Path, env_id: str | None, device: str = "cpu", env_kwargs: dict | None = None):
        from agents.imitation import load_sb3_model, load_vecnormalize, sb3_algorithm, vecnormalize_path

        self.env_id, self.env_kwargs = env_id, dict(env_kwargs or {})
        self.model = load_sb3_model(path, env_id, device, self.env_kwargs)
        self.name = f"sb3-{sb3_algorithm(Path(path)).lower()}"
        self.num_timesteps = int(self.model.num_timesteps)
        self.vecnormalize_path = vecnormalize_path(path)
        self.vecnormalize = None
        if self.vecnormalize_path is not None:
            self.vecnormalize = load_vecnormalize(self.vecnormalize_path, self.model.observation_space)

    def policy_fn(self, deterministic: bool = True):
        """One observation -> one env action, as :meth:`agents.base.Agent.policy_fn`."""
        from agents.imitation import sb3_policy

        return sb3_policy(self.model, deterministic, self.vecnormalize)

    def evaluate(
        self, episodes=10, deterministic=True, seed=None, env=None, on_episode=None, split="test"
    ) -> dict[str, float]:
        """As :meth:`agents.base.Agent.evaluate`: on ``env`` if given, else a fresh env (a
        single-step env's whole test split)."""
        policy = self.policy_fn(deterministic)
        return evaluate_policy(self.env_id, self.env_kwargs, policy, episodes, seed, env, on_episode, split)


def load_player(
    path: str | Path, env_id: str | None = None, device: str = "cpu", best: bool = False, env_kwargs: dict | None = None
):
    """What ``gymlab eval``/``record``/``demos`` play: ``(player, run_dir)``, the agent of a gymlab run
    directory (its newest checkpoint, or best.pt with ``best``), or an :class:`SB3Player` for a
    Stable-Baselines3 .zip (``env_id`` required). ``env_kwargs`` make the env the .zip plays, or
    change the run's own (the spaces must stay the run's). ``run_dir`` is where the figures are
    logged: None for a .zip, and for a run playing an env other than its own."""
    from agents import runs
    from agents.imitation import is_sb3_model

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


class FrameTap(gym.Wrapper):
    """Keeps every frame that passes through ``render()`` (placed inside RecordVideo, so the
    frames written to the mp4 can also go to TensorBoard without rendering twice)."""

    def __init__(self, env: gym.Env):
        super().__init__(env)
        self.frames: list[np.ndarray] = []

    def render(self):
        frame = self.env.render()
        if frame is not None:
            self.frames.append(np.asarray(frame))
        return frame


def video_prefix(agent: Agent | SB3Player) -> str:
    """The start of a recording's file name: ``<agent>-<env>`` (``/`` in ids becomes ``_``)."""
    return f"{agent.name}-{agent.env_id.replace('/', '_')}"


def record(
    agent: Agent | SB3Player,
    out_dir: Path,
    episodes: int = 1,
    deterministic: bool = True,
    seed: int | None = 0,
    prefix: str | None = None,
) -> tuple[list[Path], dict[str, float], np.ndarray]:
    """Record ``episodes`` episodes of ``agent`` as mp4 files in ``out_dir`` with gymnasium's
    RecordVideo. Returns (mp4 paths, evaluation stats, frames of the first episode)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    env = envs.make_env(agent.env_id, render_mode="rgb_array", **agent.env_kwargs)
    if env.metadata.get("render_fps") is None:
        env.metadata["render_fps"] = 30
    tap = FrameTap(env)
    prefix = prefix or video_prefix(agent)
    start = time.time()
    first: list[np.ndarray] = []

    def keep_first(_return: float, _length: int) -> None:
        if not first:
            first.extend(tap.frames)

    with warnings.catch_warnings():  # an existing videos/ folder is expected, not a problem
        warnings.filterwarnings("ignore", message=".*Overwriting existing videos.*")
        video = gym.wrappers.RecordVideo(
            tap, str(out_dir), episode_trigger=lambda _: True, name_prefix=prefix, disable_logger=True
        )
    try:
        stats = agent.evaluate(episodes, deterministic, seed=seed, env=video, on_episode=keep_first)
    finally:
        video.close()
    written = sorted(p for p in out_dir.glob(f"{prefix}-episode-*.mp4") if p.stat().st_mtime >= start - 1)
    return written, stats, np.stack(first) if first else np.zeros((0, 1, 1, 3), np.uint8)
