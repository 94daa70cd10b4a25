"""Shared fixtures: headless rendering, and one tiny trained run for the tests that only read it."""

import os
from pathlib import Path

import pytest

from tests.tiny import train_tiny

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("SDL_AUDIODRIVER", "dummy")


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory) -> Path:
    """A finished 512-step PPO CartPole run (read-only for the tests using it)."""
    run_dir = tmp_path_factory.mktemp("runs") / "tiny"
    assert train_tiny(run_dir) == 0
    return run_dir
