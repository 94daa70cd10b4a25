"""A smoke test per CLI subcommand, on tiny budgets, checking what each one writes."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.request

import gymnasium as gym
import imageio.v3 as iio
import numpy as np
import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from gymlab.cli import main
from tests.tiny import event_steps, train_tiny

SUBCOMMANDS = ["train", "eval", "record", "board", "list", "demos", "export", "compress"]


@pytest.mark.parametrize("command", SUBCOMMANDS)
def test_every_subcommand_has_help(command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"])
    assert exit_info.value.code == 0
    assert "usage: gymlab " + command in capsys.readouterr().out


def test_train_writes_config_events_checkpoints_and_episodes(tiny_run):
    config = json.loads((tiny_run / "config.json").read_text())
    assert config["agent"] == "ppo" and config["env_id"] == "CartPole-v1" and config["seed"] == 0
    hyper = config["hyperparameters"]
    # preset values, then --set overrides, then flags: all recorded as actually used
    assert hyper["n_envs"] == 8 and hyper["batch_size"] == 256 and hyper["gamma"] == 0.98
    assert hyper["n_steps"] == 32 and hyper["n_epochs"] == 2 and hyper["total_steps"] == 512
    latest = json.loads((tiny_run / "checkpoints" / "latest.json").read_text())
    assert latest["num_timesteps"] == 512
    assert (tiny_run / "checkpoints" / latest["file"]).is_file()
    rows = (tiny_run / "episodes.csv").read_text().splitlines()
    assert rows[0] == "step,return,length" and len(rows) > 5
    assert list(tiny_run.glob("events.out.tfevents.*"))


def test_event_file_holds_sb3_tags(tiny_run):
    events = EventAccumulator(str(tiny_run))
    events.Reload()
    tags = set(events.Tags()["scalars"])
    expected = {
        "rollout/ep_rew_mean", "rollout/ep_len_mean", "time/fps",
        "train/loss", "train/policy_gradient_loss", "train/value_loss", "train/entropy_loss",
        "train/approx_kl", "train/clip_fraction", "train/explained_variance", "train/learning_rate",
    }  # fmt: skip
    assert expected <= tags, expected - tags
    assert "hyperparameters/text_summary" in events.Tags()["tensors"]
    steps = [e.step for e in events.Scalars("train/learning_rate")]
    assert steps == [256, 512]
    lr = [e.value for e in events.Scalars("train/learning_rate")]
    # the preset's linear schedule from 1e-3, read after each rollout (as SB3 does): 1/2 then 0 left
    assert lr == pytest.approx([5e-4, 0.0])


def test_eval_prints_mean_and_logs_eval_tags(tiny_run, capsys):
    assert main(["eval", str(tiny_run), "--episodes", "3", "--json"]) == 0
    out = capsys.readouterr().out
    assert "mean_reward:" in out and "over 3 episodes (deterministic)" in out
    stats = json.loads(out.strip().splitlines()[-1])
    assert stats["num_timesteps"] == 512 and stats["mean_reward"] > 0
    events = EventAccumulator(str(tiny_run))
    events.Reload()
    assert {"test/mean_reward", "test/mean_ep_length", "test/std_reward"} <= set(events.Tags()["scalars"])
    assert events.Scalars("test/mean_reward")[-1].value == pytest.approx(stats["mean_reward"], rel=1e-5)


def episode_lengths(run_dir) -> list[int]:
    rows = (run_dir / "episodes.csv").read_text().splitlines()[1:]
    return [int(row.split(",")[2]) for row in rows]


def test_env_kwargs_make_the_env_of_training_resume_and_eval(tmp_path, capsys):
    run = tmp_path / "short"
    assert train_tiny(run, "--env-kwargs", "max_episode_steps=40") == 0
    assert json.loads((run / "config.json").read_text())["env_kwargs"] == {"max_episode_steps": 40}
    lengths = episode_lengths(run)
    assert lengths and max(lengths) <= 40 and 40 in lengths  # CartPole's own limit is 500
    assert main(["train", "--resume", str(run), "--steps", "1024", "--quiet"]) == 0
    resumed = episode_lengths(run)[len(lengths) :]
    assert resumed and max(resumed) <= 40, "a resumed run makes its env as the run did"
    capsys.readouterr()

    assert main(["eval", str(run), "--episodes", "2", "--json"]) == 0
    assert json.loads(capsys.readouterr().out.splitlines()[-1])["mean_ep_length"] <= 40
    # eval can change the run's env (here a shorter limit); those figures stay out of the run's test/* curve
    assert main(["eval", str(run), "--episodes", "2", "--json", "--env-kwargs", "max_episode_steps=7"]) == 0
    assert json.loads(capsys.readouterr().out.splitlines()[-1])["mean_ep_length"] <= 7
    assert len(event_steps(run, "test/mean_reward")) == 1
    assert main(["eval", str(run), "--episodes", "2", "--env-kwargs", "max_episode_steps=40"]) == 0  # the run's own
    assert len(event_steps(run, "test/mean_reward")) == 2


def test_eval_stochastic_differs_in_mode_only(tiny_run, capsys):
    assert main(["eval", str(tiny_run), "--episodes", "2", "--stochastic"]) == 0
    assert "(stochastic)" in capsys.readouterr().out


def test_record_writes_a_real_mp4_and_a_tensorboard_video(tiny_run, tmp_path, capsys):
    out = tmp_path / "videos"
    assert main(["record", str(tiny_run), "--out", str(out), "--episodes", "1"]) == 0
    videos = sorted(out.glob("*.mp4"))
    assert len(videos) == 1 and f"video: {videos[0]}" in capsys.readouterr().out
    frames = iio.imread(videos[0], plugin="pyav") if _has_pyav() else iio.imread(videos[0])
    env = gym.make("CartPole-v1", render_mode="rgb_array")
    env.reset(seed=0)
    height, width, _ = env.render().shape
    assert frames.ndim == 4 and frames.shape[0] > 1
    assert frames.shape[1:3] == (height, width)
    assert frames.std() > 0  # not a blank video
    events = EventAccumulator(str(tiny_run), size_guidance={"images": 0})
    events.Reload()
    assert "test/video" in events.Tags()["images"]
    gif = events.Images("test/video")[-1]
    # TensorBoard's GIF: CartPole's 600 x 400 frames shrunk by 2 (agents.logger.GIF_WIDTH = 320)
    assert gif.encoded_image_string[:6] == b"GIF89a" and (gif.height, gif.width) == (height // 2, width // 2)


@pytest.fixture(scope="module")
def sb3_model(tmp_path_factory):
    """An SB3 PPO model .zip for CartPole-v1 (a few updates: a policy, not a solution)."""
    from stable_baselines3 import PPO as SB3PPO

    model = SB3PPO("MlpPolicy", "CartPole-v1", n_steps=128, batch_size=64, n_epochs=2, seed=0, device="cpu")
    model.learn(256)
    path = tmp_path_factory.mktemp("sb3") / "ppo-cartpole.zip"
    model.save(path)
    return path


def test_eval_and_record_play_an_sb3_model(sb3_model, tmp_path, capsys):
    from stable_baselines3 import PPO as SB3PPO

    assert main(["eval", str(sb3_model), "--env", "CartPole-v1", "--episodes", "3", "--seed", "7", "--json"]) == 0
    stats = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    # the same three episodes played by hand with SB3's own predict
    model, env, returns = SB3PPO.load(sb3_model, device="cpu"), gym.make("CartPole-v1"), []
    for i in range(3):
        obs, _ = env.reset(seed=7 + i)
        done, total = False, 0.0
        while not done:
            obs, reward, terminated, truncated, _ = env.step(model.predict(obs, deterministic=True)[0])
            total, done = total + reward, terminated or truncated
        returns.append(total)
    assert stats["mean_reward"] == pytest.approx(np.mean(returns)) and stats["num_timesteps"] == 256
    out = tmp_path / "videos"
    assert main(["record", str(sb3_model), "--env", "CartPole-v1", "--out", str(out), "--seed", "7"]) == 0
    printed = capsys.readouterr().out
    videos = sorted(out.glob("sb3-ppo-CartPole-v1-ppo-cartpole-step256-episode-*.mp4"))
    assert len(videos) == 1 and videos[0].stat().st_size > 1000
    assert f"mean_reward: {returns[0]:.2f} over 1 episodes" in printed and "TensorBoard" not in printed
    assert not list(sb3_model.parent.glob("events.out.tfevents.*")), "nothing is logged beside a .zip"
    short = ["--env", "CartPole-v1", "--episodes", "2", "--json", "--env-kwargs", "max_episode_steps=6"]
    assert main(["eval", str(sb3_model), *short]) == 0
    assert json.loads(capsys.readouterr().out.splitlines()[-1])["mean_ep_length"] <= 6


@pytest.mark.parametrize(
    "env_id, algorithm",
    [("FrozenLake-v1", "PPO"), ("gymlab/Digits-v0", "A2C")],  # a Discrete observation; a dataset as an env
)
def test_eval_of_sb3_models_on_discrete_and_single_step_envs(env_id, algorithm, tmp_path, capsys):
    import stable_baselines3

    import envs  # noqa: F401 - registers gymlab ids
    from supervised.datasets import load_task

    sizes = {"n_steps": 16, **({"batch_size": 16} if algorithm == "PPO" else {})}
    model = getattr(stable_baselines3, algorithm)("MlpPolicy", env_id, seed=0, device="cpu", **sizes)
    model.save(tmp_path / "model.zip")
    seen: list[float] = []
    assert main(["eval", str(tmp_path / "model.zip"), "--env", env_id, "--episodes", "3", "--json"]) == 0
    stats = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    if env_id == "FrozenLake-v1":
        assert stats["mean_reward"] in (0.0, 1 / 3, 2 / 3, 1.0)  # three episodes of reward 0 or 1
        return
    # a single-step env is scored as for a gymlab run: every example of the test split once
    from gymlab.play import load_player

    player, _ = load_player(tmp_path / "model.zip", env_id)
    player.evaluate(episodes=3, on_episode=lambda r, n: seen.append(r))
    assert len(seen) == len(load_task("digits", "test"))
    assert stats["accuracy"] == pytest.approx(np.mean(seen))


def _has_pyav() -> bool:
    try:
        import av  # noqa: F401
    except ImportError:
        return False
    return True


def test_train_video_flag_records_training_episodes(tmp_path):
    run_dir = tmp_path / "run"
    assert train_tiny(run_dir, "--video") == 0
    videos = list((run_dir / "videos").glob("train-episode-*.mp4"))
    assert videos and all(v.stat().st_size > 1000 for v in videos)


def test_list_shows_agents_presets_and_envs(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert "ppo" in out and "CartPole-v1" in out and "LunarLander-v3" in out and "gymlab/Digits-v0" in out
    from supervised import TASKS

    for spec in TASKS.values():  # every listed task of the registry, with its kind (BC's demos have no id)
        assert not spec.listed or f"  {spec.env_id:<32} {spec.kind.name}: {spec.description}" in out
    assert "supervised   gymlab/Digits-v0, gymlab/Diabetes-v0" in out  # presets from the declarations
    assert main(["list", "--keys", "ppo"]) == 0
    keys = capsys.readouterr().out
    assert "clip_range" in keys and "initial clip range" in keys


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_board_serves_tensorboard_on_the_runs(tiny_run):
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "gymlab", "board", str(tiny_run), "--port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        deadline, body = time.monotonic() + 60, b""
        while time.monotonic() < deadline and not body:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/data/runs", timeout=2) as r:
                    body = r.read()
            except OSError:
                time.sleep(0.5)
        assert body, "tensorboard did not answer within 60 s"
        assert isinstance(json.loads(body), list)
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    out = proc.stdout.read().decode()
    assert f"TensorBoard on http://127.0.0.1:{port}/" in out  # the URL, first
    assert "TensorFlow" not in out and "NOTE" not in out and "Traceback" not in out  # nothing alarming


def test_board_rejects_missing_dir(tmp_path, capsys):
    assert main(["board", str(tmp_path / "nope")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_python_dash_m_entry_point():
    result = subprocess.run([sys.executable, "-m", "gymlab", "--help"], capture_output=True, text=True)
    assert result.returncode == 0 and "train" in result.stdout


def test_frames_are_rgb_uint8(tiny_run, tmp_path):
    from agents import runs
    from gymlab import play

    _, agent = runs.load_run(tiny_run)
    paths, stats, frames = play.record(agent, tmp_path, episodes=1)
    assert frames.dtype == np.uint8 and frames.shape[-1] == 3 and len(frames) == stats["mean_ep_length"] + 1
