"""Watching a trained agent: evaluation episodes and mp4 recordings."""

from __future__ import annotations

import time
import warnings
from pathlib import Path

import gymnasium as gym
import numpy as np

import envs
from agents.base import Agent


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


def record(
    agent: Agent,
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
    prefix = prefix or f"{agent.name}-{agent.env_id.replace('/', '_')}"
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
