"""Tests for envs.demos and agents.imitation: the demonstrations file format, experts from gymlab
runs and SB3 models, behaviour cloning and GAIL (slow: the CartPole targets)."""

import math

import gymnasium as gym
import numpy as np
import pytest
import torch

from agents.gan import adversarial_reward
from agents.imitation import BC, GAIL, BCConfig, GAILConfig, _space_fits, load_expert, record_expert_demos
from envs.demos import load_demos, record_demos, save_demos
from gymlab.cli import main

TINY = "gymlab_test/Tiny-v0"
TINY_STEPS = 20


class TinyEnv(gym.Env):
    """Observe x in [-1, 1]^2; action 1 is right when x0 + x1 > 0, else 0; reward 1 for the right
    action; 20 steps per episode. The expert's return is 20."""

    observation_space = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)
    action_space = gym.spaces.Discrete(2)
    metadata = {"render_modes": ["rgb_array"]}

    def __init__(self, render_mode=None):
        self.render_mode = render_mode

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        self.x = self.np_random.uniform(-1, 1, 2).astype(np.float32)
        return self.x.copy(), {}

    def step(self, action):
        reward = float(int(action) == expert_action(self.x))
        self.t += 1
        self.x = self.np_random.uniform(-1, 1, 2).astype(np.float32)
        return self.x.copy(), reward, False, self.t >= TINY_STEPS, {}


def expert_action(obs: np.ndarray) -> int:
    """The tiny env's optimal action."""
    return int(obs[0] + obs[1] > 0)


TINY_BOX = "gymlab_test/TinyBox-v0"


class TinyBoxEnv(TinyEnv):
    """:class:`TinyEnv` with two continuous action values: the expert's is
    :func:`expert_box_action`, and the reward is minus the squared distance to it (expert: 0)."""

    action_space = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)

    def step(self, action):
        reward = -float(np.square(np.asarray(action) - expert_box_action(self.x)).sum())
        self.t += 1
        self.x = self.np_random.uniform(-1, 1, 2).astype(np.float32)
        return self.x.copy(), reward, False, self.t >= TINY_STEPS, {}


def expert_box_action(obs: np.ndarray) -> np.ndarray:
    """The tiny Box env's optimal action, inside [-1, 1]^2."""
    return np.array([obs[0] + obs[1], obs[0] - obs[1]], np.float32) / 2


for env_id, entry_point in ((TINY, TinyEnv), (TINY_BOX, TinyBoxEnv)):
    if env_id not in gym.envs.registry:
        gym.register(env_id, entry_point=entry_point)


@pytest.fixture
def tiny_demos(tmp_path):
    """Ten expert episodes of the tiny env, saved; returns the path."""
    env = gym.make(TINY)
    demos = record_demos(env, expert_action, 10, TINY, seed=0)
    return save_demos(demos, tmp_path / "tiny.npz")


# ----------------------------------------------------------------------------- the file format
def test_demos_round_trip(tiny_demos):
    demos = load_demos(tiny_demos, TINY)
    assert demos.env_id == TINY and len(demos) == 10 * TINY_STEPS and demos.n_episodes == 10
    assert demos.expert_return == pytest.approx(TINY_STEPS)
    assert demos.observations.shape == (200, 2) and demos.actions.shape == (200,)
    np.testing.assert_array_equal(demos.episode_lengths(), [TINY_STEPS] * 10)
    np.testing.assert_allclose(demos.episode_returns(), [TINY_STEPS] * 10)
    assert demos.episode_starts[::TINY_STEPS].all() and demos.episode_starts.sum() == 10
    np.testing.assert_array_equal(demos.actions, [expert_action(o) for o in demos.observations])
    first = demos.first_episodes(3)
    assert len(first) == 60 and first.n_episodes == 3 and first.expert_return == pytest.approx(TINY_STEPS)


def test_demos_keep_the_env_kwargs_they_were_recorded_with(tiny_demos, tmp_path):
    kwargs = {"max_episode_steps": 5}
    demos = record_demos(gym.make(TINY, **kwargs), expert_action, 3, TINY, seed=0, env_kwargs=kwargs)
    path = save_demos(demos, tmp_path / "short.npz")
    loaded = load_demos(path, TINY, kwargs)
    assert loaded.env_kwargs == kwargs and loaded.first_episodes(2).env_kwargs == kwargs
    np.testing.assert_array_equal(loaded.episode_lengths(), [5, 5, 5])
    with pytest.raises(
        ValueError,
        match="made with max_episode_steps=5, not no env kwargs; train with --env-kwargs max_episode_steps=5",
    ):
        load_demos(path, TINY)
    with pytest.raises(
        ValueError, match="made with no env kwargs, not max_episode_steps=5; train without --env-kwargs"
    ):
        load_demos(tiny_demos, TINY, kwargs)
    older = dict(np.load(tiny_demos))
    del older["env_kwargs"]  # files written before env kwargs were kept: made with none
    assert load_demos(_write(tmp_path / "older.npz", **older), TINY).env_kwargs == {}
    with pytest.raises(ValueError, match="damaged env_kwargs"):
        load_demos(_write(tmp_path / "bad.npz", **{**older, "env_kwargs": np.str_("[1]")}))


def test_record_demos_returns_mean_episode_return():
    env = gym.make(TINY)
    demos = record_demos(env, lambda obs: 0, 4, TINY, seed=1)  # right about half the time
    np.testing.assert_allclose(demos.expert_return, demos.episode_returns().mean())
    assert 0 < demos.expert_return < TINY_STEPS


def _write(path, **arrays):
    np.savez(path, **arrays)
    return path


def test_bad_demos_files_give_one_clear_error(tiny_demos, tmp_path):
    good = dict(np.load(tiny_demos))
    with pytest.raises(ValueError, match="was recorded on gymlab_test/Tiny-v0, not CartPole-v1"):
        load_demos(tiny_demos, "CartPole-v1")
    with pytest.raises(ValueError, match="does not exist"):
        load_demos(tmp_path / "nope.npz")
    with pytest.raises(ValueError, match="lacks episode_starts"):
        load_demos(_write(tmp_path / "a.npz", **{k: v for k, v in good.items() if k != "episode_starts"}))
    with pytest.raises(ValueError, match="mismatched lengths"):
        load_demos(_write(tmp_path / "b.npz", **{**good, "rewards": good["rewards"][:-1]}))
    truncated = tmp_path / "c.npz"
    truncated.write_bytes(tiny_demos.read_bytes()[: tiny_demos.stat().st_size // 2])
    with pytest.raises(ValueError, match="damaged or truncated"):
        load_demos(truncated)
    (tmp_path / "d.npz").write_text("not a zip")
    with pytest.raises(ValueError, match="damaged"):
        load_demos(tmp_path / "d.npz")
    with pytest.raises(ValueError, match="damaged"):  # pickled objects are refused, never run
        load_demos(_write(tmp_path / "e.npz", **{**good, "actions": np.array([object()] * 200)}))
    with pytest.raises(ValueError, match="observes shape"):
        load_demos(_write(tmp_path / "f.npz", **{**good, "observations": np.zeros((200, 3), np.float32)}), TINY)
    with pytest.raises(ValueError, match="actions outside"):
        load_demos(_write(tmp_path / "g.npz", **{**good, "actions": good["actions"] + 5}), TINY)


def test_bad_demos_exit_2_through_the_cli(tiny_demos, tmp_path, capsys):
    truncated = tmp_path / "cut.npz"
    truncated.write_bytes(tiny_demos.read_bytes()[:100])
    for agent, demos, message in (
        ("bc", truncated, "damaged or truncated"),
        ("gail", truncated, "damaged or truncated"),
        ("bc", tiny_demos, "recorded on gymlab_test/Tiny-v0, not CartPole-v1"),
        ("gail", tmp_path / "missing.npz", "does not exist"),
    ):
        run = tmp_path / f"run-{agent}"
        code = main(
            [
                "train",
                agent,
                "CartPole-v1",
                "--set",
                f"demos={demos}",
                "--steps",
                "64",
                "--run-dir",
                str(run),
                "--quiet",
            ]
        )
        err = capsys.readouterr().err
        assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err
        assert not run.exists()  # nothing half-written is left behind
    assert main(["train", "bc", "CartPole-v1", "--quiet"]) == 2
    assert "bc needs expert demonstrations: --set demos=FILE.npz" in capsys.readouterr().err


# ----------------------------------------------------------------------------- experts
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


def test_an_sb3_models_spaces_fit_by_kind_and_size():
    from gymnasium.spaces import Box, Discrete, MultiDiscrete

    frames = Box(0, 255, (96, 96, 3), np.uint8)
    assert _space_fits(Box(0, 255, (3, 96, 96), np.uint8), frames)  # SB3 keeps images channel-first
    assert _space_fits(frames, frames) and not _space_fits(Box(0, 255, (3, 64, 64), np.uint8), frames)
    assert _space_fits(Discrete(4), Discrete(4)) and not _space_fits(Discrete(6), Discrete(4))
    assert not _space_fits(MultiDiscrete([3, 3]), MultiDiscrete([3, 4]))
    assert not _space_fits(Discrete(4), Box(-1, 1, (4,)))


# ----------------------------------------------------------------------------- behaviour cloning
def test_bc_reaches_the_expert_on_a_tiny_env(tiny_demos):
    config = BCConfig(demos=str(tiny_demos), epochs=60, patience=0, batch_size=16, learning_rate=3e-3, hidden=[32])
    agent = BC(TINY, config, seed=0, device="cpu")
    seen = []
    agent.learn(callback=lambda a, m: seen.append(m))
    assert "train/val_expert_agreement" in seen[-1]
    stats = agent.evaluate(episodes=10, seed=100)
    assert stats["mean_reward"] >= 0.95 * TINY_STEPS, stats


def test_bc_clones_several_continuous_action_values(tmp_path):
    demos = record_demos(gym.make(TINY_BOX), expert_box_action, 10, TINY_BOX, seed=0)
    path = save_demos(demos, tmp_path / "box.npz")
    config = BCConfig(demos=str(path), epochs=100, patience=0, batch_size=16, learning_rate=3e-3, hidden=[32])
    agent = BC(TINY_BOX, config, seed=0, device="cpu")
    agent.learn()
    clone = agent.evaluate(episodes=10, seed=100)["mean_reward"]
    x = np.random.default_rng(0).uniform(-1, 1, (100, 2)).astype(np.float32)
    actions = agent.act(torch.as_tensor(x), deterministic=True).detach().numpy()
    assert actions.shape == (100, 2)
    error = np.square(actions - np.stack([expert_box_action(o) for o in x])).sum(axis=1).mean()
    # standing still (action 0) scores about -6.7 per episode: the clone must do far better
    assert error < 0.005 and clone > -0.1, (error, clone)


def test_bc_run_trains_and_evaluates_through_the_cli(tiny_demos, tmp_path, capsys):
    run = tmp_path / "bc"
    assert (
        main(
            ["train", "bc", TINY, "--set", f"demos={tiny_demos}", "--set", "epochs=3", "--run-dir", str(run), "--quiet"]
        )
        == 0
    )
    capsys.readouterr()
    assert main(["eval", str(run), "--episodes", "2", "--json"]) == 0
    out = capsys.readouterr().out
    assert "mean_reward" in out and "mean_ep_length: 20.0" in out  # played the real (tiny) env


# ----------------------------------------------------------------------------- GAIL
def gail_config(demos, **overrides) -> GAILConfig:
    """A small, fast GAIL configuration for the tiny env."""
    values = dict(demos=str(demos), n_envs=2, n_steps=64, batch_size=64, n_epochs=2, hidden=[16], disc_hidden=[16])
    return GAILConfig(**{**values, **overrides})


def test_gail_replaces_env_rewards_with_the_discriminators(tiny_demos):
    agent = GAIL(TINY, gail_config(tiny_demos, reward="logit"), seed=0, device="cpu")
    agent.open_envs()
    agent.collect()
    buffer = agent.buffer
    obs = buffer.obs.reshape(-1, 2)
    actions = buffer.actions.reshape(-1)
    with torch.no_grad():
        logits = agent.discriminator(agent.features(obs, actions))
    np.testing.assert_allclose(buffer.rewards.reshape(-1), logits.numpy(), rtol=1e-5, atol=1e-6)
    assert {"train/disc_loss", "train/disc_expert_acc", "train/disc_policy_acc"} <= set(agent.disc_metrics)
    agent.close()


class EndingTinyEnv(TinyEnv):
    """The tiny env, but each episode terminates (not truncates) after 10 steps, well inside
    its registered time limit of 50."""

    def step(self, action):
        obs, reward, _, _, info = super().step(action)
        return obs, reward, self.t >= 10, False, info


ENDING_TINY = "gymlab_test/EndingTiny-v0"
if ENDING_TINY not in gym.envs.registry:
    gym.register(ENDING_TINY, entry_point=EndingTinyEnv, max_episode_steps=50)


def test_gail_absorbing_state_prices_termination(tmp_path):
    """With absorbing=true every terminated expert episode adds one absorbing input to D's
    expert set, and a terminated step's reward gains gamma / (1 - gamma) times D's reward for
    the absorbing state; other steps keep D's reward of (s, a)."""
    demos = save_demos(record_demos(gym.make(ENDING_TINY), expert_action, 10, ENDING_TINY, seed=0), tmp_path / "e.npz")
    config = gail_config(demos, reward="logit", absorbing=True, gamma=0.9)
    agent = GAIL(ENDING_TINY, config, seed=0, device="cpu")
    absorbing = agent.absorbing_state()
    assert absorbing.shape == (1, 2 + 2 + 1) and absorbing[0, -1] == 1 and absorbing[0, :-1].abs().sum() == 0
    assert len(agent.expert) == 100 + 10 and (agent.expert[:, -1] == 1).sum() == 10
    agent.open_envs()
    agent.collect()
    buffer = agent.buffer
    with torch.no_grad():
        logits = agent.discriminator(agent.features(buffer.obs.reshape(-1, 2), buffer.actions.reshape(-1)))
        absorbing_logit = agent.discriminator(absorbing)
    terminated = buffer.terminated.reshape(-1)
    assert terminated.sum() == 2 * 64 // 10
    expected = logits.numpy() + terminated * float(absorbing_logit) * 0.9 / (1 - 0.9)
    np.testing.assert_allclose(buffer.rewards.reshape(-1), expected, rtol=1e-5, atol=1e-5)
    assert agent.disc_metrics["train/disc_absorbing_reward"] == pytest.approx(float(absorbing_logit), abs=1e-6)
    agent.close()


def test_gail_absorbing_state_follows_a_time_limit_set_by_env_kwargs(tmp_path):
    """Episodes cut by ``--env-kwargs max_episode_steps`` are truncated, not terminated: no absorbing inputs."""
    kwargs = {"max_episode_steps": 5}
    demos = record_demos(gym.make(TINY, **kwargs), expert_action, 4, TINY, seed=0, env_kwargs=kwargs)
    path = save_demos(demos, tmp_path / "cut.npz")
    agent = GAIL(TINY, gail_config(path, absorbing=True), seed=0, device="cpu", env_kwargs=kwargs)
    assert len(agent.expert) == 4 * 5 and (agent.expert[:, -1] == 0).all()


def test_gail_discriminator_rewards_expert_actions_more(tiny_demos):
    """Against a policy that always takes the wrong action, the learned reward of the expert's
    (s, a) pairs rises above that of the same states with the wrong action."""
    agent = GAIL(TINY, gail_config(tiny_demos, disc_hidden=[32], disc_learning_rate=3e-3), seed=0, device="cpu")
    demos = load_demos(tiny_demos)
    right = agent.features(demos.observations, demos.actions)  # (200, 4)
    wrong = agent.features(demos.observations, 1 - demos.actions)
    with torch.no_grad():
        before = adversarial_reward(agent.discriminator(right)) - adversarial_reward(agent.discriminator(wrong))
    for _ in range(60):
        metrics = agent.update_discriminator(wrong)
    with torch.no_grad():
        after = adversarial_reward(agent.discriminator(right)) - adversarial_reward(agent.discriminator(wrong))
    assert after.mean() > before.mean() + 0.5
    assert (after > 0).float().mean() > 0.9
    assert metrics["train/disc_expert_acc"] > 0.9 and metrics["train/disc_policy_acc"] > 0.9


def test_gail_run_trains_and_evaluates_through_the_cli(tiny_demos, tmp_path, capsys):
    run = tmp_path / "gail"
    args = ["train", "gail", TINY, "--set", f"demos={tiny_demos}", "--steps", "256", "--n-envs", "2",
            "--set", "n_steps=64", "--set", "batch_size=64", "--run-dir", str(run), "--quiet"]  # fmt: skip
    assert main(args) == 0
    capsys.readouterr()
    from agents import runs

    _, agent = runs.load_run(run)
    assert isinstance(agent, GAIL) and agent.num_timesteps == 256
    assert main(["eval", str(run), "--episodes", "2"]) == 0
    assert "mean_ep_length: 20.0" in capsys.readouterr().out
    assert main(["train", "--resume", str(run), "--steps", "384", "--quiet"]) == 0


# ----------------------------------------------------------------------------- CartPole targets (slow)
@pytest.fixture(scope="module")
def cartpole_demos(tmp_path_factory):
    """A gymlab PPO expert on CartPole-v1 (preset, 1e5 steps) and 10 of its episodes."""
    from gymlab import train

    folder = tmp_path_factory.mktemp("cartpole")
    train.train("ppo", "CartPole-v1", seed=0, device="cpu", run_dir=folder / "expert", quiet=True)
    demos, path = record_expert_demos(folder / "expert", 10, folder / "demos.npz")
    assert demos.expert_return > 400, "the PPO expert did not learn CartPole"
    return demos, path


@pytest.mark.slow
def test_bc_clones_a_cartpole_expert(cartpole_demos):
    demos, path = cartpole_demos
    agent = BC("CartPole-v1", BCConfig(demos=str(path)), seed=0, device="cpu")
    agent.learn()
    assert agent.evaluate(10, seed=1000)["mean_reward"] >= 0.9 * demos.expert_return


@pytest.mark.slow
def test_gail_imitates_a_cartpole_expert(cartpole_demos):
    from gymlab import train

    demos, path = cartpole_demos
    agent = train.build_new("gail", "CartPole-v1", seed=0, device="cpu", sets=[f"demos={path}"])
    assert agent.config.total_steps <= 300_000
    agent.learn()
    assert math.isfinite(agent.episodes.mean_return())
    assert agent.evaluate(10, seed=1000)["mean_reward"] >= 0.95 * demos.expert_return


def test_gail_refuses_reward_scaling_it_would_never_use(tiny_demos):
    with pytest.raises(ValueError, match="discriminator's rewards, not the env's; set normalize_reward=false"):
        gail_config(tiny_demos, normalize_reward=True).check()
    gail_config(tiny_demos, normalize_obs=True).check()  # the policy may still standardise what it sees
