"""MuJoCo out of the box: the zoo's PPO presets, and train, eval and record through the CLI,
rendering headless."""

from __future__ import annotations

import importlib.util
import json

import pytest

from agents.presets import preset
from gymlab.cli import main

pytestmark = pytest.mark.skipif(importlib.util.find_spec("mujoco") is None, reason="gymnasium[mujoco] not installed")


@pytest.mark.parametrize("env_id", ["HalfCheetah-v5", "Hopper-v5", "Walker2d-v5", "Ant-v5"])
def test_zoo_presets_normalise_like_vecnormalize(env_id):
    values = preset("ppo", env_id)
    assert values["normalize_obs"] and values["normalize_reward"] and values["total_steps"] == 1_000_000
    assert values["n_envs"] == 1


def test_hopper_trains_evaluates_and_records(tmp_path, capsys):
    run = tmp_path / "hopper"
    assert main(["train", "ppo", "Hopper-v5", "--steps", "512", "--run-dir", str(run), "--quiet"]) == 0
    config = json.loads((run / "config.json").read_text())
    assert config["hyperparameters"]["learning_rate"] == pytest.approx(9.80828e-5) and config["hyperparameters"][
        "hidden"
    ] == [256, 256]
    capsys.readouterr()
    assert main(["eval", str(run), "--episodes", "1", "--json"]) == 0
    figures = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert figures["mean_ep_length"] >= 1
    assert main(["record", str(run)]) == 0
    out = capsys.readouterr().out
    videos = list((run / "videos").glob("ppo-Hopper-v5-hopper-step512-episode-0.mp4"))
    assert len(videos) == 1 and videos[0].stat().st_size > 1000 and f"video: {videos[0]}" in out
