"""Checkpoints: atomic writes, save -> load, resume after kill -9, seeding."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch
from tensorboard.backend.event_processing.event_file_loader import EventFileLoader
from tensorboard.compat.proto.event_pb2 import SessionLog

from agents import runs
from gymlab.cli import main
from tests.tiny import train_tiny


def episode_returns(run_dir: Path) -> list[tuple[int, float]]:
    with open(run_dir / "episodes.csv") as f:
        return [(int(r["step"]), float(r["return"])) for r in csv.DictReader(f)]


def test_write_atomic_leaves_no_temp_file(tmp_path):
    target = tmp_path / "x.json"
    runs.write_json(target, {"a": 1})
    runs.write_json(target, {"a": 2})
    assert json.loads(target.read_text()) == {"a": 2}
    assert [p.name for p in tmp_path.iterdir()] == ["x.json"]


def test_checkpoint_is_plain_state_dicts(tiny_run):
    state = torch.load(runs.latest_checkpoint(tiny_run), weights_only=True)
    assert set(state["modules"]) == {"policy", "optimizer"}
    assert all(isinstance(v, torch.Tensor) for v in state["modules"]["policy"].values())
    assert state["num_timesteps"] == 512


def test_save_load_gives_identical_actions(tiny_run):
    _, agent_a = runs.load_run(tiny_run)
    _, agent_b = runs.load_run(tiny_run)
    obs = np.random.default_rng(0).normal(size=(64, 4)).astype(np.float32)
    assert np.array_equal(agent_a.predict(obs), agent_b.predict(obs))
    fresh = runs.build_agent(runs.read_config(tiny_run))
    assert not all(torch.equal(p, q) for p, q in zip(fresh.policy.parameters(), agent_a.policy.parameters())), (
        "loading must change the weights of a fresh agent"
    )


def test_same_seed_same_returns(tmp_path):
    assert train_tiny(tmp_path / "a", "--seed", "3") == 0
    assert train_tiny(tmp_path / "b", "--seed", "3") == 0
    assert train_tiny(tmp_path / "c", "--seed", "4") == 0
    a, b, c = (episode_returns(tmp_path / x) for x in "abc")
    assert len(a) > 10 and a == b
    assert a != c


def test_resume_after_kill_continues(tmp_path):
    run_dir = tmp_path / "killed"
    cmd = [
        sys.executable, "-m", "gymlab", "train", "ppo", "CartPole-v1", "--run-dir", str(run_dir),
        "--steps", "200000", "--set", "n_steps=32", "--set", "n_epochs=2", "--set", "checkpoint_every=1024",
        "--set", "log_interval=1", "--quiet",
    ]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    latest = run_dir / "checkpoints" / "latest.json"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if latest.exists() and json.loads(latest.read_text())["num_timesteps"] >= 2048:
            break
        time.sleep(0.2)
    time.sleep(0.5)  # let it run past the checkpoint, so the dead run logged steps to be purged
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    saved = json.loads(latest.read_text())["num_timesteps"]
    assert saved >= 2048
    target = saved + 4096  # 512 steps per env: past CartPole's 500-step limit, so every env ends an episode
    assert main(["train", "--resume", str(run_dir), "--steps", str(target), "--quiet"]) == 0
    assert json.loads(latest.read_text())["num_timesteps"] == target
    assert json.loads((run_dir / "config.json").read_text())["hyperparameters"]["total_steps"] == target
    steps = [s for s, _ in episode_returns(run_dir)]
    assert steps == sorted(steps), f"episode rows out of order around the resume at {saved}: {steps[-20:]}"
    assert steps[-1] > saved, f"no episode finished after the resume at {saved}: {steps[-5:]}"
    # The resumed run writes a new events file that opens with a purge marker at saved + 1, so
    # TensorBoard drops whatever the dead run logged past its checkpoint, then continues the curve.
    files = sorted(run_dir.glob("events.out.tfevents.*"), key=lambda p: p.stat().st_mtime)
    assert len(files) == 2, files
    assert sorted(files) == files, "TensorBoard reads files in name order: the resumed run's must sort last"
    resumed = list(EventFileLoader(str(files[-1])).Load())
    starts = [e.step for e in resumed if e.HasField("session_log") and e.session_log.status == SessionLog.START]
    assert starts == [saved + 1], starts
    loss_steps = [e.step for e in resumed for v in e.summary.value if v.tag == "train/loss"]
    assert loss_steps == list(range(saved + 256, target + 1, 256)), (saved, loss_steps)
    dead = [e.step for e in EventFileLoader(str(files[0])).Load() for v in e.summary.value if v.tag == "train/loss"]
    assert saved in dead, f"the dead run's curve must reach its checkpoint at {saved}: {dead[-5:]}"


def test_resume_restores_optimizer_and_counters(tiny_run):
    _, agent = runs.load_run(tiny_run, resume=True)
    assert agent.num_timesteps == 512 and agent.iterations == 2
    assert agent.optimizer.state_dict()["state"], "optimizer moments must be restored"
    assert len(agent.episodes.returns) > 0


def test_async_vectorization_matches_sync(tmp_path):
    """vectorization=async (one subprocess per env) gives the same episodes as sync."""
    assert train_tiny(tmp_path / "sync", "--seed", "5") == 0
    assert train_tiny(tmp_path / "async", "--seed", "5", "--set", "vectorization=async") == 0
    assert episode_returns(tmp_path / "sync") == episode_returns(tmp_path / "async")
