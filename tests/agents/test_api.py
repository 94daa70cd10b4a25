"""The Python API under the command line: presets in the constructor, no process-wide side
effects, learn/save/load/predict, and the same run as `gymlab train` for the same arguments."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import gymlab
from agents import A2C, PPO, runs
from agents.ppo import PPOConfig
from agents.presets import preset
from gymlab.cli import main


def test_the_constructor_applies_the_preset_then_the_keywords():
    agent = PPO("CartPole-v1", seed=0, n_envs=4)
    expected = {**preset("ppo", "CartPole-v1"), "n_envs": 4}
    for key, value in expected.items():
        assert getattr(agent.config, key) == pytest.approx(value), key
    plain = PPO("CartPole-v1", preset=False)
    assert plain.config.n_steps == PPOConfig().n_steps == 2048
    with pytest.raises(ValueError, match="unknown hyperparameter 'n_step'; did you mean n_steps"):
        PPO("CartPole-v1", n_step=8)


def test_an_agent_changes_nothing_process_wide():
    torch.manual_seed(123)
    threads, rng = torch.get_num_threads(), torch.get_rng_state()
    numpy_state = np.random.get_state()[1].copy()
    agent = A2C("CartPole-v1", seed=5, threads=threads + 1, n_steps=5)
    agent.learn(80)
    agent.predict(np.zeros((3, 4), dtype=np.float32), deterministic=False)
    assert torch.get_num_threads() == threads
    assert torch.equal(torch.get_rng_state(), rng)
    assert np.array_equal(np.random.get_state()[1], numpy_state)


def test_two_agents_interleaved_learn_as_each_alone():
    def weights(agent):
        return torch.cat([p.detach().reshape(-1) for p in agent.policy.parameters()])

    alone = PPO("CartPole-v1", seed=1, n_steps=16, n_epochs=2)
    a = PPO("CartPole-v1", seed=1, n_steps=16, n_epochs=2)
    b = PPO("CartPole-v1", seed=2, n_steps=16, n_epochs=2)
    for steps in (128, 256):  # a's random stream is untouched by b's learning in between
        alone.learn(steps)
        a.learn(steps)
        b.learn(steps)
    assert torch.equal(weights(a), weights(alone))


def test_save_then_load_predicts_the_same_and_the_cli_takes_the_folder(tmp_path, capsys):
    agent = PPO("CartPole-v1", seed=0, n_steps=32, n_epochs=2).learn(512)
    agent.save(tmp_path / "run")
    loaded = gymlab.load(tmp_path / "run")
    obs = np.random.default_rng(0).normal(size=(16, 4)).astype(np.float32)
    assert np.array_equal(agent.predict(obs), loaded.predict(obs))
    assert loaded.num_timesteps == 512
    logits = loaded.model(torch.as_tensor(obs))  # (16, 2): the policy's logits
    assert logits.shape == (16, 2)
    assert np.array_equal(logits.argmax(-1).numpy(), loaded.predict(obs))
    assert main(["eval", str(tmp_path / "run"), "--episodes", "2"]) == 0
    assert main(["train", "--resume", str(tmp_path / "run"), "--steps", "1024", "--quiet"]) == 0
    assert gymlab.load(tmp_path / "run").num_timesteps == 1024
    assert "mean_reward" in capsys.readouterr().out


def test_the_api_and_the_cli_give_the_same_run(tmp_path):
    args = ["--steps", "512", "--set", "n_steps=32", "--set", "n_epochs=2", "--seed", "3", "--quiet"]
    assert main(["train", "ppo", "CartPole-v1", "--run-dir", str(tmp_path / "cli"), *args]) == 0
    cli = gymlab.load(tmp_path / "cli")
    api = PPO("CartPole-v1", seed=3, n_steps=32, n_epochs=2).learn(512)
    for (name, a), (_, b) in zip(api.policy.state_dict().items(), cli.policy.state_dict().items()):
        assert torch.equal(a, b), name


def test_learn_into_a_run_directory_logs_like_gymlab_train(tmp_path):
    agent = PPO("CartPole-v1", seed=0, n_steps=32, n_epochs=2)
    agent.learn(512, run_dir=tmp_path / "run")
    assert runs.read_config(tmp_path / "run")["agent"] == "ppo"
    assert list((tmp_path / "run").glob("events.out.tfevents.*"))
    assert runs.has_checkpoint(tmp_path / "run")
    agent.learn(1024, run_dir=tmp_path / "run")  # the same folder: training goes on in it
    assert gymlab.load(tmp_path / "run").num_timesteps == 1024
    with pytest.raises(ValueError, match="already holds a run"):
        PPO("CartPole-v1").learn(64, run_dir=tmp_path / "run")
