"""gymlab.sb3: SB3 model files read (spaces, algorithm), and ``gymlab export``: PPO and A2C runs as
Stable-Baselines3 models that compute what the run does (and SB3 models as a run's start)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from agents import runs
from gymlab.cli import main
from gymlab.sb3 import SB3_ALGORITHMS, is_sb3_model, sb3_algorithm, space_fits


def train(run_dir, agent: str, env_id: str, *sets: str) -> None:
    extra = [item for key_value in sets for item in ("--set", key_value)]
    args = ["train", agent, env_id, "--steps", "512", "--n-envs", "2", "--run-dir", str(run_dir), "--quiet", *extra]
    assert main(args) == 0


def assert_same_policy(run_dir, model_path, cls) -> None:
    """The SB3 model gives every action the run's log-probability, and every state its value."""
    _, agent = runs.load_run(run_dir, "cpu")
    model = cls.load(model_path, device="cpu")
    obs = np.stack([agent.observation_space.sample() for _ in range(64)]).astype(np.float32)
    actions = np.stack([agent.action_space.sample() for _ in range(64)])
    with torch.no_grad():
        log_prob, entropy, values = agent.policy.evaluate(torch.as_tensor(obs), torch.as_tensor(actions))
        their_values, their_log_prob, their_entropy = model.policy.evaluate_actions(
            torch.as_tensor(obs), torch.as_tensor(actions)
        )
    torch.testing.assert_close(log_prob, their_log_prob, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(entropy, their_entropy, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(values, their_values.flatten(), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(model.predict(obs, deterministic=True)[0], agent.predict(obs), rtol=1e-5, atol=1e-5)
    assert model.num_timesteps == agent.num_timesteps == 512


def test_a_ppo_run_becomes_an_sb3_model_that_plays_the_same_episodes(tiny_run, tmp_path, capsys):
    from stable_baselines3 import PPO
    from stable_baselines3.common.env_util import make_vec_env

    assert main(["export", str(tiny_run), str(tmp_path / "ppo-cartpole")]) == 0
    path = tmp_path / "ppo-cartpole.zip"
    assert f"sb3 model: {path} (PPO, 512 steps on CartPole-v1)" in capsys.readouterr().out
    assert_same_policy(tiny_run, path, PPO)
    model = PPO.load(path, device="cpu")
    assert (model.n_envs, model.n_steps, model.batch_size, model.gamma, model.n_epochs) == (8, 32, 256, 0.98, 2)
    figures = []
    for source in ([str(tiny_run)], [str(path), "--env", "CartPole-v1"]):
        assert main(["eval", *source, "--episodes", "3", "--seed", "5", "--json"]) == 0
        figures.append(json.loads(capsys.readouterr().out.splitlines()[-1]))
    assert figures[0] == figures[1]  # the same three episodes, to the step
    model = PPO.load(path, env=make_vec_env("CartPole-v1", n_envs=8, seed=0), device="cpu")
    model.learn(256, reset_num_timesteps=False)  # SB3 trains on from the run's weights
    assert model.num_timesteps == 512 + 256
    assert not list(tmp_path.glob(".*tmp*")), "the file is written through a temporary one, then renamed"


@pytest.mark.parametrize(
    "agent, env_id, sets",
    [
        (
            "a2c",
            "Pendulum-v1",
            ["n_steps=8", "log_std_init=-0.5", "use_sde=false", "normalize_obs=false"],
        ),  # Box actions: log_std too
        ("ppo", "CartPole-v1", ["n_steps=64", "batch_size=64", "activation=gelu", "hidden=32,16"]),  # unfused body
        ("a2c", "FrozenLake-v1", ["n_steps=8", "lr_warmup=0.1"]),  # one-hot observations; SB3 has no warm-up
    ],
)
def test_a2c_and_ppo_bodies_heads_and_spaces_carry_over(agent, env_id, sets, tmp_path, capsys):
    import stable_baselines3

    train(tmp_path / "run", agent, env_id, *sets)
    assert main(["export", str(tmp_path / "run"), str(tmp_path / "model.zip")]) == 0
    assert_same_policy(tmp_path / "run", tmp_path / "model.zip", getattr(stable_baselines3, agent.upper()))


def test_normalisation_statistics_go_to_a_vecnormalize_file_that_eval_finds(tmp_path, capsys):
    from stable_baselines3 import A2C
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.vec_env import VecNormalize

    run = tmp_path / "run"
    train(run, "a2c", "CartPole-v1", "n_steps=8", "normalize_obs=true", "normalize_reward=true")
    assert main(["export", str(run), str(tmp_path / "norm.zip")]) == 0
    stats = tmp_path / "norm.vecnormalize.pkl"
    assert f"vecnormalize: {stats}" in capsys.readouterr().out
    _, agent = runs.load_run(run, "cpu")
    vec = VecNormalize.load(str(stats), make_vec_env("CartPole-v1", n_envs=1))
    np.testing.assert_allclose(vec.obs_rms.mean, agent.policy.obs_rms.mean.numpy())
    np.testing.assert_allclose(vec.ret_rms.var, agent.reward_scaler.rms.var.numpy())
    assert vec.obs_rms.count == pytest.approx(float(agent.policy.obs_rms.count))
    model = A2C.load(tmp_path / "norm.zip", device="cpu")
    obs = np.stack([agent.observation_space.sample() for _ in range(64)])
    np.testing.assert_array_equal(model.predict(vec.normalize_obs(obs), deterministic=True)[0], agent.predict(obs))

    figures = []
    for source in ([str(run)], [str(tmp_path / "norm.zip"), "--env", "CartPole-v1"]):
        assert main(["eval", *source, "--episodes", "3", "--json"]) == 0
        figures.append(json.loads(capsys.readouterr().out.splitlines()[-1]))
    assert figures[0] == figures[1]
    zoo = tmp_path / "norm" / "vecnormalize.pkl"  # where rl-baselines3-zoo keeps the statistics of norm.zip
    zoo.parent.mkdir()
    stats.rename(zoo)
    assert main(["eval", str(tmp_path / "norm.zip"), "--env", "CartPole-v1", "--episodes", "3", "--json"]) == 0
    out = capsys.readouterr().out
    assert f"vecnormalize: {zoo}" in out and json.loads(out.splitlines()[-1]) == figures[0]
    zoo.write_bytes(b"not a pickle")
    assert main(["eval", str(tmp_path / "norm.zip"), "--env", "CartPole-v1"]) == 2
    assert "is not readable VecNormalize statistics" in capsys.readouterr().err


def test_exporting_a_plain_run_over_a_normalised_one_removes_the_old_statistics(tiny_run, tmp_path, capsys):
    run = tmp_path / "run"
    train(run, "a2c", "CartPole-v1", "n_steps=8", "normalize_obs=true")
    assert main(["export", str(run), str(tmp_path / "m.zip")]) == 0
    assert (tmp_path / "m.vecnormalize.pkl").is_file()
    assert main(["export", str(tiny_run), str(tmp_path / "m.zip")]) == 0
    assert not (tmp_path / "m.vecnormalize.pkl").exists(), "the plain model must not play with them"


@pytest.mark.parametrize(
    "agent, env_id, sets, message",
    [
        ("reinforce", "CartPole-v1", [], "reinforce has no SB3 counterpart"),
        ("ppo", "CartPole-v1", ["shared=true", "n_steps=64", "batch_size=64"], "export needs shared=false"),
        ("a2c", "Pendulum-v1", ["use_sde=true", "n_steps=8"], "it needs use_sde=false"),
    ],
)
def test_runs_sb3_cannot_hold_are_refused_in_one_line(agent, env_id, sets, message, tmp_path, capsys):
    train(tmp_path / "run", agent, env_id, *sets)
    capsys.readouterr()
    assert main(["export", str(tmp_path / "run"), str(tmp_path / "model.zip")]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "model.zip").exists()


def test_export_bad_paths(tiny_run, tmp_path, capsys):
    (tmp_path / "taken.zip").mkdir()
    assert main(["export", str(tiny_run), str(tmp_path / "taken.zip")]) == 2
    assert "is a directory" in capsys.readouterr().err
    assert main(["export", str(tmp_path / "nothing"), str(tmp_path / "m.zip")]) == 2
    assert "is not a gymlab run" in capsys.readouterr().err
    assert main(["export", str(tiny_run), str(tmp_path / "m.zip"), "--best"]) == 2
    assert "has no best model" in capsys.readouterr().err
    (tmp_path / "file").write_text("a file, not a folder")
    assert main(["export", str(tiny_run), str(tmp_path / "file" / "m.zip")]) == 2
    err = capsys.readouterr().err
    assert f"cannot write {tmp_path / 'file' / 'm.zip'}" in err and len(err.strip().splitlines()) == 1, err


def test_an_sb3_model_starts_a_gymlab_run_with_its_weights_and_statistics(tmp_path, capsys):
    """--init-from MODEL.zip: the new run's actor-critic computes what the SB3 model does, with the
    VecNormalize statistics beside it; the optimizer and counters start afresh."""
    from stable_baselines3 import A2C

    from gymlab import train as driver

    train(tmp_path / "run", "a2c", "CartPole-v1", "n_steps=8", "normalize_obs=true", "normalize_reward=true")
    assert main(["export", str(tmp_path / "run"), str(tmp_path / "m.zip")]) == 0
    sets = ["n_steps=8", "normalize_obs=true", "normalize_reward=true"]
    with pytest.raises(ValueError, match="returns discounted with gamma 0.99; train with --set gamma=0.99"):
        driver.build_new("ppo", "CartPole-v1", device="cpu", sets=sets, init_from=tmp_path / "m.zip")  # preset: 0.98
    sets.append("gamma=0.99")
    agent = driver.build_new("ppo", "CartPole-v1", device="cpu", sets=sets, init_from=tmp_path / "m.zip")
    model = A2C.load(tmp_path / "m.zip", device="cpu")
    _, source = runs.load_run(tmp_path / "run", "cpu")
    obs = np.stack([agent.observation_space.sample() for _ in range(32)])
    actions = torch.as_tensor(np.stack([agent.action_space.sample() for _ in range(32)]))
    with torch.no_grad():
        mine = agent.policy.evaluate(torch.as_tensor(obs), actions)
        theirs = source.policy.evaluate(torch.as_tensor(obs), actions)
    for a, b in zip(mine, theirs):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(agent.reward_scaler.rms.var, source.reward_scaler.rms.var)
    assert agent.num_timesteps == 0 and model.num_timesteps == 512

    run = tmp_path / "from-sb3"
    args = ["train", "a2c", "CartPole-v1", "--init-from", str(tmp_path / "m.zip"), "--run-dir", str(run), "--quiet"]
    assert main([*args, *(x for kv in sets for x in ("--set", kv)), "--steps", "64"]) == 0
    assert json.loads((run / "config.json").read_text())["init_from"] == str(tmp_path / "m.zip")

    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.vec_env import VecNormalize

    stats = VecNormalize.load(str(tmp_path / "m.vecnormalize.pkl"), make_vec_env("CartPole-v1", n_envs=1))
    stats.clip_obs = 1.0  # gymlab clips at 10: the same statistics would standardise differently
    stats.save(str(tmp_path / "m.vecnormalize.pkl"))
    with pytest.raises(ValueError, match="clip at 1 with epsilon 1e-08; gymlab's normalize_obs clips at 10"):
        driver.build_new("ppo", "CartPole-v1", device="cpu", sets=sets, init_from=tmp_path / "m.zip")


@pytest.mark.parametrize(
    "sets, message",
    [
        (
            ["hidden=32"],
            "has hidden layers [64, 64], this run [32]; train with --set hidden=64,64",
        ),
        (["activation=relu"], "uses Tanh, this run relu; train with --set activation=tanh"),
        (["normalize_obs=true"], "has no VecNormalize statistics of its obs"),
    ],
)
def test_sb3_models_that_do_not_fit_a_run_are_refused_in_one_line(sets, message, tiny_run, tmp_path, capsys):
    assert main(["export", str(tiny_run), str(tmp_path / "m.zip")]) == 0
    capsys.readouterr()
    args = ["train", "ppo", "CartPole-v1", "--init-from", str(tmp_path / "m.zip"), "--run-dir", str(tmp_path / "r")]
    assert main([*args, *(x for kv in sets for x in ("--set", kv))]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "r").exists()


def test_an_sb3_models_spaces_fit_by_kind_and_size():
    from gymnasium.spaces import Box, Discrete, MultiDiscrete

    frames = Box(0, 255, (96, 96, 3), np.uint8)
    assert space_fits(Box(0, 255, (3, 96, 96), np.uint8), frames)  # SB3 keeps images channel-first
    assert space_fits(frames, frames) and not space_fits(Box(0, 255, (3, 64, 64), np.uint8), frames)
    assert space_fits(Discrete(4), Discrete(4)) and not space_fits(Discrete(6), Discrete(4))
    assert not space_fits(MultiDiscrete([3, 3]), MultiDiscrete([3, 4]))
    assert not space_fits(Discrete(4), Box(-1, 1, (4,)))


def test_the_algorithm_is_read_without_unpickling(tmp_path):
    import zipfile

    for key, algorithm in SB3_ALGORITHMS:
        path = tmp_path / f"{algorithm}.zip"
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("data", json.dumps({key: 1, "policy_class": "not read"}))
        assert sb3_algorithm(path) == algorithm and is_sb3_model(path)
    (tmp_path / "junk.zip").write_text("not a zip")
    with pytest.raises(ValueError, match="is not a readable Stable-Baselines3 model"):
        sb3_algorithm(tmp_path / "junk.zip")
    assert not is_sb3_model(tmp_path / "missing.zip") and not is_sb3_model(tmp_path)
