"""Fixtures for CLI tests: one tiny trained run shared by the tests that only read it."""

from __future__ import annotations

from pathlib import Path

import pytest

from gymlab.cli import main

TINY = ["--steps", "512", "--set", "n_steps=32", "--set", "n_epochs=2", "--quiet"]


def train_tiny(run_dir: Path, *extra: str) -> int:
    """Train PPO on CartPole for 512 steps into ``run_dir``; returns the exit code."""
    return main(["train", "ppo", "CartPole-v1", "--run-dir", str(run_dir), *TINY, *extra])


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory) -> Path:
    """A finished 512-step PPO CartPole run (read-only for the tests using it)."""
    run_dir = tmp_path_factory.mktemp("runs") / "tiny"
    assert train_tiny(run_dir) == 0
    return run_dir
