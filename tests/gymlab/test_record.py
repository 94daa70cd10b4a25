"""gymlab record: where videos go and what they are called (nothing is ever overwritten), and
what record and train --video say when the env cannot render here."""

from __future__ import annotations

import shutil

import pytest
from gymnasium.envs.classic_control.cartpole import CartPoleEnv

from agents import runs
from gymlab import play
from gymlab.cli import main
from tests.gymlab.test_bad_input import assert_one_line_error, run_cli


@pytest.fixture
def run(tiny_run, tmp_path):
    """A copy of the tiny run that this test may write videos into."""
    return shutil.copytree(tiny_run, tmp_path / "tiny")


def test_videos_go_under_the_run_named_by_run_step_and_episode(run, capsys):
    assert main(["record", str(run), "--episodes", "2"]) == 0
    out = capsys.readouterr().out
    step = runs.load_run(run)[1].num_timesteps
    names = [f"ppo-CartPole-v1-tiny-step{step}-episode-{i}.mp4" for i in (0, 1)]
    assert sorted(p.name for p in (run / "videos").glob("*.mp4")) == names
    for name in names:  # each path printed as its file is written
        assert f"video: {run / 'videos' / name}  (return " in out


def test_recording_again_adds_files_instead_of_replacing_them(run, capsys):
    for _ in range(3):
        assert main(["record", str(run)]) == 0
    step = runs.load_run(run)[1].num_timesteps
    names = sorted(p.name for p in (run / "videos").glob("*.mp4"))
    prefix = f"ppo-CartPole-v1-tiny-step{step}"
    assert names == [f"{prefix}-episode-0.mp4", f"{prefix}-take2-episode-0.mp4", f"{prefix}-take3-episode-0.mp4"]


def test_max_steps_cuts_each_episode_and_tensorboard_keeps_at_most_its_frame_limit(run, capsys, monkeypatch):
    monkeypatch.setattr(play, "TENSORBOARD_FRAMES", 5)
    assert main(["record", str(run), "--episodes", "2", "--max-steps", "7"]) == 0
    out = capsys.readouterr().out
    assert out.count(", 7 steps)") == 2  # tiny run's policy survives 7 steps of CartPole from these seeds
    _, agent = runs.load_run(run)
    _, _, frames = play.record(agent, run / "again", 1, max_steps=7)
    assert len(frames) == 5
    for bad in ("0", "-3", "1.5"):
        result = run_cli("record", str(run), "--max-steps", bad)
        assert_one_line_error(result, "expected a whole number >= 1")


def test_best_weights_are_named_best(tiny_run):
    _, agent = runs.load_run(tiny_run)
    assert play.video_name(agent, tiny_run, best=True) == f"ppo-CartPole-v1-tiny-step{agent.num_timesteps}-best"


def test_unused_prefix(tmp_path):
    assert play.unused_prefix(tmp_path, "a") == "a"
    (tmp_path / "a-episode-0.mp4").touch()
    (tmp_path / "a-take2-episode-3.mp4").touch()
    assert play.unused_prefix(tmp_path, "a") == "a-take3"


def broken_render(self):
    raise RuntimeError("cannot open an EGL display")


def test_record_says_in_one_line_when_the_env_cannot_render(run, monkeypatch):
    monkeypatch.setattr(CartPoleEnv, "render", broken_render)
    result = run_cli("record", str(run))
    assert_one_line_error(
        result, "cannot render CartPole-v1", "cannot open an EGL display", "libegl1", "MUJOCO_GL=osmesa"
    )
    assert not list((run / "videos").glob("*.mp4"))


def test_network_view_on_a_vector_env_is_refused_before_recording_starts(run):
    result = run_cli("record", str(run), "--network-view")
    assert_one_line_error(result, "--network-view needs image observations")
    assert "recording" not in result.stdout
    assert not list((run / "videos").glob("*.mp4"))


def test_train_video_says_in_one_line_when_the_env_cannot_render(tmp_path, monkeypatch):
    monkeypatch.setattr(CartPoleEnv, "render", broken_render)
    result = run_cli("train", "ppo", "CartPole-v1", "--video", "--steps", "256", "--run-dir", str(tmp_path / "r"))
    assert_one_line_error(result, "cannot render CartPole-v1", "libegl1")
    assert not (tmp_path / "r").exists()


def test_list_marks_envs_that_cannot_run_here(monkeypatch, capsys):
    from envs import make

    monkeypatch.setitem(make.OPTIONAL_DEPENDENCIES, "gymnasium.envs.mujoco", ("no_such_module", "pip install X"))
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert "Hopper-v5 (!)" in out and "CartPole-v1 (!)" not in out
    assert "(!) cannot run here: pip install X" in out


def test_a_missing_dependency_is_one_line_with_exit_2(monkeypatch, tmp_path):
    from envs import make

    monkeypatch.setitem(
        make.OPTIONAL_DEPENDENCIES, "gymnasium.envs.box2d", ("no_such_module", 'pip install "gymnasium[box2d]"')
    )
    result = run_cli("train", "ppo", "LunarLander-v3", "--run-dir", str(tmp_path / "r"))
    assert_one_line_error(result, 'LunarLander-v3 cannot run here: pip install "gymnasium[box2d]"')
