"""gymlab.play: experts (a gymlab run or an SB3 model) playing demonstrations for ``gymlab demos``."""

import numpy as np

from envs.demos import load_demos
from gymlab.cli import main
from gymlab.play import load_expert, record_expert_demos
from tests.agents.toy_envs import TINY


def test_demos_from_a_gymlab_run_and_an_sb3_model(tmp_path, capsys):
    run = tmp_path / "expert"
    assert main(["train", "ppo", TINY, "--steps", "256", "--n-envs", "2", "--set", "n_steps=64", "--set",
                 "batch_size=64", "--run-dir", str(run), "--quiet"]) == 0  # fmt: skip
    out = tmp_path / "from-run.npz"
    assert main(["demos", str(run), "--episodes", "3", "--out", str(out)]) == 0
    assert "3 episodes, 60 steps" in capsys.readouterr().out
    assert load_demos(out, TINY).n_episodes == 3

    from stable_baselines3 import PPO as SB3PPO

    model = SB3PPO("MlpPolicy", TINY, n_steps=64, batch_size=64, seed=0, device="cpu")
    model.save(tmp_path / "sb3.zip")
    env_id, env_kwargs, policy = load_expert(tmp_path / "sb3.zip", TINY)
    assert env_id == TINY and env_kwargs == {} and int(policy(np.zeros(2, np.float32))) in (0, 1)
    demos, path = record_expert_demos(tmp_path / "sb3.zip", 2, tmp_path / "from-sb3", TINY)
    assert path.name == "from-sb3.npz" and load_demos(path, TINY).n_episodes == 2

    short = tmp_path / "short.npz"
    assert main(["demos", str(run), "--episodes", "2", "--out", str(short), "--env-kwargs", "max_episode_steps=4"]) == 0
    assert f"--set demos={short} --env-kwargs max_episode_steps=4" in capsys.readouterr().out
    assert load_demos(short, TINY, {"max_episode_steps": 4}).episode_lengths().tolist() == [4, 4]
    assert main(["train", "bc", TINY, "--set", f"demos={short}", "--run-dir", str(tmp_path / "bc"), "--quiet"]) == 2
    assert "train with --env-kwargs max_episode_steps=4" in capsys.readouterr().err

    assert main(["demos", str(tmp_path / "sb3.zip"), "--out", str(tmp_path / "x.npz")]) == 2
    assert "add --env ENV_ID" in capsys.readouterr().err
    assert main(["demos", str(run), "--env", "CartPole-v1", "--out", str(tmp_path / "y.npz")]) == 2
    assert "was trained on gymlab_test/Tiny-v0, not CartPole-v1" in capsys.readouterr().err
    assert main(["demos", str(tmp_path / "nothing"), "--out", str(tmp_path / "z.npz")]) == 2
