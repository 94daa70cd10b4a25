"""A tiny trained run (PPO on CartPole, 512 steps) and readers of what runs log, for tests of
run directories, training and the CLI."""

from __future__ import annotations

from pathlib import Path

from tensorboard.backend.event_processing.event_file_loader import EventFileLoader

from gymlab.cli import main

TINY = ["--steps", "512", "--set", "n_steps=32", "--set", "n_epochs=2", "--quiet"]


def train_tiny(run_dir: Path, *extra: str) -> int:
    """Train PPO on CartPole for 512 steps into ``run_dir``; returns the exit code."""
    return main(["train", "ppo", "CartPole-v1", "--run-dir", str(run_dir), *TINY, *extra])


def event_steps(run_dir: Path, tag: str) -> list[int]:
    """Steps of every ``tag`` scalar in all of a run's event files, each file read on its own
    (EventAccumulator reads files in name order and can skip one written in the same second)."""
    return [
        e.step
        for path in sorted(run_dir.glob("events.out.tfevents.*"))
        for e in EventFileLoader(str(path)).Load()
        for v in e.summary.value
        if v.tag == tag
    ]
