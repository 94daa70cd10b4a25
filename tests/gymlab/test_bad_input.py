"""Each bad input ends with one line naming the problem and the fix, exit code 2, no
traceback, and no half-written run directory."""

from __future__ import annotations

import contextlib
import io
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from gymlab.cli import main

TINY = ["--steps", "256", "--set", "n_steps=32", "--quiet"]


def run_cli(*args: str) -> subprocess.CompletedProcess:
    """The console entry point in this process, with what it prints to stdout and stderr."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(list(args))
        except SystemExit as e:  # argparse's own errors
            code = e.code
    return subprocess.CompletedProcess(["gymlab", *args], code, out.getvalue(), err.getvalue())


def run_cli_process(*args: str) -> subprocess.CompletedProcess:
    """The real console entry point in a subprocess, to see exactly what a user sees."""
    return subprocess.run([sys.executable, "-m", "gymlab", *args], capture_output=True, text=True, timeout=120)


def assert_one_line_error(result: subprocess.CompletedProcess, *fragments: str) -> None:
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


@pytest.mark.parametrize(
    "args, fragments",
    [
        (["train", "ppp", "CartPole-v1"], ["unknown agent 'ppp'", "did you mean ppo"]),
        (["train", "ppo", "CartPole-v9"], ["unknown environment id 'CartPole-v9'", "CartPole-v1"]),
        (["train", "ppo", "CartPole-v1", "--set", "gamma"], ["malformed --set 'gamma'", "key=value"]),
        (["train", "ppo", "CartPole-v1", "--set", "gama=0.9"], ["unknown hyperparameter 'gama'", "gamma"]),
        (["train", "ppo", "CartPole-v1", "--set", "n_steps=abc"], ["n_steps expects an integer", "'abc'"]),
        (["train", "ppo", "CartPole-v1", "--set", "gamma=1.5"], ["gamma must be in [0, 1]", "1.5"]),
        (["train", "ppo", "CartPole-v1", "--set", "batch_size=100"], ["multiple of batch_size", "try batch_size="]),
        (["train", "ppo", "CartPole-v1", "--steps", "0"], ["total_steps must be > 0"]),
        (["train", "ppo", "Blackjack-v1"], ["observation space", "not supported"]),
        (["train", "a2c", "FrozenLake-v1", "--set", "normalize_obs=true"], ["normalize_obs needs flat Box", "=false"]),
        (["train", "ppo", "CartPole-v1", "--set", "use_sde=true"], ["use_sde needs 1-D Box actions", "=false"]),
        (["train", "a2c", "Pendulum-v1", "--set", "sde_sample_freq=0"], ["sde_sample_freq must be -1", "got 0"]),
        (
            ["train", "ppo", "CartPole-v1", "--eval-every", "-5"],
            ["--eval-every: expected a whole number >= 0", "got '-5'"],
        ),
        (["train", "ppo", "CartPole-v1", "--eval-episodes", "0"], ["eval_episodes must be > 0"]),
        (["train", "ppo", "CartPole-v1", "--eval-episodes", "3"], ["--eval-episodes needs", "--eval-every STEPS"]),
        (
            ["train", "ppo", "CartPole-v1", "--env-kwargs", "foo=1"],
            ["CartPole-v1 cannot be made with foo=1", "unexpected keyword argument 'foo'"],
        ),
        (["train", "ppo", "LunarLander-v3", "--env-kwargs", "gravity=5"], ["gravity", "must be between -12 and 0"]),
        (["train", "ppo", "CartPole-v1", "--env-kwargs", "max_episode_steps"], ["malformed --env-kwargs"]),
        (
            ["train", "ppo", "LunarLander-v3", "--env-kwargs", "enable_wind=yes"],
            ["LunarLander-v3 takes enable_wind as true or false (default false), not the text 'yes'"],
        ),
        (
            ["train", "ppo", "LunarLander-v3", "--env-kwargs", "wind_power=strong"],
            ["takes wind_power as a number (default 15.0), not the text 'strong'"],
        ),
        (
            ["train", "ppo", "Walker2d-v3"],
            ["Walker2d-v3 cannot run here: the mujoco-py envs (v2, v3) moved to gymnasium-robotics; use the v5 ids"],
        ),
        (["train", "ppo", "FrozenLake-v1", "--env-kwargs", "map_name=9x9"], ["cannot be made with map_name='9x9'"]),
        (
            ["train", "ppo", "gymlab/Digits-v0", "--env-kwargs", "split=test"],
            ["cannot set split", "val for --eval-every"],
        ),
        (["train", "ppo"], ["train needs AGENT and ENV_ID"]),
        (["train", "--steps", "x"], ["expected a whole number >= 0 such as 100000, 100_000 or 1e5, got 'x'"]),
        (["train", "ppo", "CartPole-v1", "--steps", "1.5"], ["expected a whole number", "'1.5'"]),
        (["train", "ppo", "LunarLander-v3", "--n-envs", "1000000"], ["n_envs=1000000 needs about", "use fewer envs"]),
    ],
)
def test_train_bad_input(args, fragments, tmp_path):
    run_dir = tmp_path / "run"
    result = run_cli(*args, "--run-dir", str(run_dir))
    assert_one_line_error(result, *fragments)
    assert not run_dir.exists(), "a failed start must not leave a run directory"


def test_unsupported_action_space(tmp_path, capsys):
    # gymlab/Sequence-v0 in label mode acts with one label per token: MultiDiscrete
    assert main(["train", "ppo", "gymlab/Sequence-v0", "--run-dir", str(tmp_path / "r"), *TINY]) == 2
    err = capsys.readouterr().err.strip()
    assert "does not support the action space MultiDiscrete" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "r").exists()


def test_not_a_run_dir(tmp_path):
    for command in ("eval", "record"):
        assert_one_line_error(run_cli(command, str(tmp_path)), "is not a gymlab run", "gymlab train")
    assert_one_line_error(run_cli("train", "--resume", str(tmp_path)), "is not a gymlab run")


def test_existing_run_dir_is_not_overwritten(tiny_run):
    before = sorted(p.name for p in tiny_run.rglob("*"))
    assert_one_line_error(
        run_cli("train", "ppo", "CartPole-v1", "--run-dir", str(tiny_run)), "already holds a run", "--resume"
    )
    assert sorted(p.name for p in tiny_run.rglob("*")) == before


@pytest.fixture()
def run_copy(tiny_run, tmp_path) -> Path:
    copy = tmp_path / "copy"
    shutil.copytree(tiny_run, copy)
    return copy


def _latest(run_dir: Path) -> Path:
    import json

    return run_dir / "checkpoints" / json.loads((run_dir / "checkpoints" / "latest.json").read_text())["file"]


def test_truncated_checkpoint(run_copy):
    checkpoint = _latest(run_copy)
    data = checkpoint.read_bytes()
    checkpoint.write_bytes(data[: len(data) // 2])
    for command in (["eval", str(run_copy)], ["train", "--resume", str(run_copy)]):
        assert_one_line_error(run_cli(*command), "truncated or corrupt", checkpoint.name)


def test_corrupt_checkpoint(run_copy):
    checkpoint = _latest(run_copy)
    checkpoint.write_bytes(b"this is not a checkpoint" * 100)
    assert_one_line_error(run_cli("eval", str(run_copy)), "truncated or corrupt")


def test_checkpoint_with_code_is_refused(run_copy):
    """weights_only loading: a pickle that would run code is rejected, not executed."""
    import pickle

    class Boom:
        def __reduce__(self):
            return (print, ("pwned",))

    checkpoint = _latest(run_copy)
    checkpoint.write_bytes(pickle.dumps({"modules": Boom()}))
    result = run_cli("eval", str(run_copy))
    assert_one_line_error(result, "truncated or corrupt")
    assert "pwned" not in result.stdout


def test_damaged_config(run_copy):
    (run_copy / "config.json").write_text("{not json")
    assert_one_line_error(run_cli("eval", str(run_copy)), "config.json is damaged")


def test_missing_checkpoint(run_copy):
    shutil.rmtree(run_copy / "checkpoints")
    assert_one_line_error(run_cli("record", str(run_copy)), "has no checkpoint yet")


def test_best_without_periodic_evaluation(tiny_run):
    for command in (["eval"], ["record"], ["demos", "--out", str(tiny_run.parent / "d.npz")]):
        result = run_cli(command[0], str(tiny_run), *command[1:], "--best")
        assert_one_line_error(result, "has no best model", "--eval-every")


def test_resume_refuses_changes_it_cannot_make(run_copy):
    before = (run_copy / "config.json").read_text()
    for extra in (["--set", "gamma=0.9"], ["--n-envs", "4"], ["--seed", "1"], ["--run-dir", "elsewhere"],
                  ["--env-kwargs", "max_episode_steps=9"], ["--init-from", str(run_copy)]):  # fmt: skip
        assert_one_line_error(run_cli("train", "--resume", str(run_copy), *extra), "cannot change a run being resumed")
    result = run_cli("train", "--resume", str(run_copy), "--eval-every", "-1")
    assert_one_line_error(result, "--eval-every: expected a whole number >= 0")
    assert (run_copy / "config.json").read_text() == before


def test_damaged_best_checkpoint(run_copy):
    (run_copy / "checkpoints" / "best.pt").write_bytes(b"not a checkpoint")
    assert_one_line_error(run_cli("eval", str(run_copy), "--best"), "truncated or corrupt", "best.pt", "--eval-every")
    events = sorted(run_copy.glob("events.out.tfevents.*"))
    result = run_cli("train", "--resume", str(run_copy), "--eval-every", "256", "--quiet")
    assert_one_line_error(result, "truncated or corrupt", "best.pt")
    assert sorted(run_copy.glob("events.out.tfevents.*")) == events, "a refused resume writes nothing"


def test_sb3_model_bad_input(tiny_run, tmp_path):
    from stable_baselines3 import PPO as SB3PPO

    model = tmp_path / "ppo.zip"
    SB3PPO("MlpPolicy", "CartPole-v1", n_steps=64, batch_size=64, device="cpu").save(model)
    for command in ("eval", "record"):
        assert_one_line_error(run_cli(command, str(model)), "does not record its env", "--env ENV_ID")
    assert_one_line_error(run_cli("eval", str(model), "--env", "Pendulum-v1"), "do not fit Pendulum-v1")
    assert_one_line_error(run_cli("eval", str(model), "--env", "CartPole-v1", "--best"), "--best needs a gymlab run")
    assert_one_line_error(run_cli("eval", str(tiny_run), "--env", "CartPole-v1"), "--env is for Stable-Baselines3")
    (tmp_path / "broken.zip").write_bytes(b"not a zip")
    assert_one_line_error(run_cli("eval", str(tmp_path / "broken.zip"), "--env", "CartPole-v1"), "not a readable")
    import zipfile

    with zipfile.ZipFile(model) as good, zipfile.ZipFile(tmp_path / "cut.zip", "w") as cut:
        for item in good.infolist():  # the weights cut short, the rest intact
            data = good.read(item)
            cut.writestr(item, data[: len(data) // 2] if item.filename == "policy.pth" else data)
    assert_one_line_error(run_cli("eval", str(tmp_path / "cut.zip"), "--env", "CartPole-v1"), "not a readable")
    assert_one_line_error(run_cli("eval", str(tmp_path / "gone.zip"), "--env", "CartPole-v1"), "does not exist")
    assert_one_line_error(run_cli("eval", str(model), "--env", "Acrobot-v1"), "do not fit Acrobot-v1")


def test_env_kwargs_that_change_a_runs_spaces_are_refused(tmp_path):
    run = tmp_path / "lake"
    result = run_cli("train", "ppo", "FrozenLake-v1", "--run-dir", str(run), *TINY)
    assert result.returncode == 0, result.stderr
    for command in (["eval"], ["record", "--out", str(tmp_path / "v")], ["demos", "--out", str(tmp_path / "d.npz")]):
        result = run_cli(command[0], str(run), *command[1:], "--env-kwargs", "map_name=8x8")
        assert_one_line_error(result, "map_name='8x8' observes Discrete(64)", "trained to observe Discrete(16)")
    assert not (tmp_path / "v").exists() and not (tmp_path / "d.npz").exists()
    result = run_cli("eval", str(run), "--episodes", "1", "--env-kwargs", "is_slippery=false")
    assert result.returncode == 0 and "mean_reward:" in result.stdout, result.stderr
    result = run_cli("demos", str(run), "--episodes", "2", "--out", str(tmp_path / "lake.npz"))
    assert result.returncode == 0 and "2 episodes" in result.stdout, result.stderr  # Discrete observations


@pytest.mark.parametrize("args", [["train", "ppp", "CartPole-v1"], ["eval", "no/such/run"]])
def test_bad_input_through_the_real_entry_point(args):
    assert_one_line_error(run_cli_process(*args))


@pytest.mark.parametrize("steps", ["1e3", "1_000", "1000"])
def test_steps_as_papers_write_them(steps, tmp_path):
    result = run_cli("train", "ppo", "CartPole-v1", "--steps", steps, "--set", "n_steps=32", "--set", "n_epochs=1",
                     "--run-dir", str(tmp_path / "run"), "--quiet")  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "steps:       1024" in result.stdout and "(24 past --steps 1000" in result.stdout
