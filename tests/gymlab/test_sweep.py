"""gymlab sweep: options checked before Ray starts, a real local Ray sweep of two tiny trials, its
runs usable as ordinary runs, resuming, and (slow) a worker killed with SIGKILL mid-trial."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from gymlab import cli, sweep

pytest.importorskip("ray", reason="gymlab sweep needs the sweep extra (pip install gymlab[sweep])")


def test_grid_and_space_are_parsed():
    assert sweep.parse_grid(["learning_rate=1e-3,3e-4", "gamma=0.99"]) == {
        "learning_rate": ["1e-3", "3e-4"],
        "gamma": ["0.99"],
    }
    assert sweep.parse_space(["learning_rate=1e-4:1e-2:log", "ent_coef=0:0.01"]) == {
        "learning_rate": [1e-4, 1e-2, True],
        "ent_coef": [0.0, 0.01, False],
    }
    spec = sweep.SweepSpec("ppo", "CartPole-v1", seeds=2, grid={"a": ["1", "2"], "b": ["x", "y", "z"]})
    assert len(sweep.grid_configurations(spec)) == 6 and sweep.total_trials(spec) == 12
    assert sweep.config_name({"learning_rate": 0.000123456, "net": "a/b"}) == "learning_rate=0.0001235_net=a-b"


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--grid", "learning_rate"], "--grid takes key=v1,v2"),
        (["--space", "learning_rate=1:0"], "need lo < hi"),
        (["--space", "learning_rate=0:1:log"], "lo > 0 on a log scale"),
        (["--search", "tpe"], "--search needs --trials K"),
        (["--search", "random", "--trials", "2", "--space", "gamma=0.9:0.99", "--seeds", "3"], "one run per trial"),
        (["--grid", "gamma=0.9,0.99", "--set", "gamma=0.9"], "both swept and fixed"),
        (["--grid", "gama=0.9,0.99"], "unknown hyperparameter 'gama'"),
        (["--seeds", "0"], "--seeds must be at least 1"),
    ],
)
def test_bad_options_fail_in_one_line_before_ray_starts(tmp_path, capsys, argv, message):
    code = cli.main(["sweep", "ppo", "CartPole-v1", "--run-dir", str(tmp_path / "s"), *argv])
    err = capsys.readouterr().err
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "s").exists()


def test_resume_needs_a_sweep(tmp_path, capsys):
    assert cli.main(["sweep", "--resume", str(tmp_path)]) == 2
    assert "holds no sweep" in capsys.readouterr().err


def test_a_local_ray_sweep_of_two_tiny_trials(tmp_path, capsys):
    sweep_dir = tmp_path / "sweep"
    argv = ["sweep", "reinforce", "CartPole-v1", "--seeds", "2", "--steps", "600", "--run-dir", str(sweep_dir)]
    assert cli.main([*argv, "--workers", "2", "--final-episodes", "2"]) == 0
    out = capsys.readouterr().out
    assert "2/2 trials finished" in out and "iqm" in out
    summary = json.loads((sweep_dir / "summary.json").read_text())
    base = summary["configurations"]["base"]
    assert len(base["scores"]) == 2 and base["iqm_low"] <= base["iqm"] <= base["iqm_high"]
    assert (sweep_dir / "curves.png").stat().st_size > 0
    for seed in (0, 1):
        run = sweep_dir / "base" / f"seed-{seed}"
        config = json.loads((run / "config.json").read_text())
        assert config["seed"] == seed and config["hyperparameters"]["total_steps"] == 600
        assert "started at step 0" in (run / "sweep.log").read_text()
    # every trial is an ordinary run directory
    assert cli.main(["eval", str(sweep_dir / "base" / "seed-1"), "--episodes", "1"]) == 0
    # resuming a finished sweep keeps every trial as it was
    before = (sweep_dir / "base" / "seed-0" / sweep.FINAL).read_text()
    assert cli.main(["sweep", "--resume", str(sweep_dir), "--workers", "2"]) == 0
    assert (sweep_dir / "base" / "seed-0" / sweep.FINAL).read_text() == before
    assert cli.main([*argv]) == 2  # a second sweep into the same folder is refused
    assert "already holds a sweep" in capsys.readouterr().err


@pytest.mark.slow
def test_a_killed_worker_is_retried_from_its_last_checkpoint(tmp_path):
    sweep_dir = tmp_path / "sweep"
    command = [sys.executable, "-m", "gymlab", "sweep", "ppo", "CartPole-v1", "--steps", "60000", "--workers", "1",
               "--set", "checkpoint_every=4096", "--run-dir", str(sweep_dir), "--final-episodes", "2"]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    run, log = sweep_dir / "base" / "seed-0", sweep_dir / "base" / "seed-0" / "sweep.log"
    deadline = time.monotonic() + 180
    from agents import runs

    while time.monotonic() < deadline and not (runs.has_checkpoint(run) and runs.checkpoint_step(run) >= 8192):
        time.sleep(0.5)
    assert runs.has_checkpoint(run), "the trial never wrote a checkpoint"
    killed_at = runs.checkpoint_step(run)
    worker = int(log.read_text().split("(pid ")[1].split(")")[0])
    os.kill(worker, signal.SIGKILL)
    out, _ = process.communicate(timeout=600)
    assert process.returncode == 0, out
    attempts = log.read_text().splitlines()
    resumed = [line for line in attempts if line.startswith("resumed at step")]
    assert resumed and int(resumed[0].split()[3]) >= killed_at > 0, attempts
    assert json.loads((run / sweep.FINAL).read_text())["step"] >= 60000
    assert "1/1 trials finished" in out


@pytest.mark.slow
def test_ctrl_c_keeps_finished_trials_and_resume_runs_the_rest(tmp_path):
    sweep_dir = tmp_path / "sweep"
    command = [sys.executable, "-m", "gymlab", "sweep", "reinforce", "CartPole-v1", "--seeds", "3", "--steps", "20000",
               "--workers", "1", "--run-dir", str(sweep_dir), "--final-episodes", "2"]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    first = None
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and first is None:
        first = next(iter(sweep_dir.glob(f"base/seed-*/{sweep.FINAL}")), None)
        time.sleep(0.3)
    assert first is not None, "no trial finished"
    kept = first.read_text()
    process.send_signal(signal.SIGINT)
    out, _ = process.communicate(timeout=120)
    assert process.returncode == 130, out
    assert "finished trials are kept" in out and f"gymlab sweep --resume {sweep_dir}" in out
    assert first.read_text() == kept and (first.parent / "config.json").is_file()
    resumed = subprocess.run([sys.executable, "-m", "gymlab", "sweep", "--resume", str(sweep_dir)],
                             capture_output=True, text=True, timeout=600)  # fmt: skip
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert "3/3 trials finished" in resumed.stdout
    assert first.read_text() == kept


def test_ray_map_runs_each_item_as_a_ray_task_in_order():
    assert sweep.ray_map(abs, [-1, 2, -3], workers=2) == [1, 2, 3]
