"""Tests for envs.demos and agents.imitation: the demonstrations file format, behaviour cloning
and its loss, GAIL on the shared adversarial losses (slow: the CartPole targets)."""

import math

import gymnasium as gym
import numpy as np
import pytest
import torch

from agents import adversarial, imitation
from agents.adversarial import adversarial_reward
from agents.imitation import BC, GAIL, BCConfig, GAILConfig, bc_loss
from envs.demos import load_demos, record_demos, save_demos
from gymlab.cli import main
from gymlab.play import record_expert_demos
from tests.agents.toy_envs import TINY, TINY_BOX, TINY_STEPS, TinyEnv, expert_action, expert_box_action


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


# ----------------------------------------------------------------------------- behaviour cloning
def test_bc_loss_known_answers():
    logits = torch.log(torch.tensor([[0.5, 0.25, 0.25], [0.1, 0.1, 0.8]]))  # softmax gives these back
    torch.testing.assert_close(
        bc_loss(logits, torch.tensor([0, 2]), "classification"), torch.tensor([math.log(2), -math.log(0.8)])
    )
    prediction = torch.tensor([[1.0, 2.0], [0.0, 0.0]])
    expert = torch.tensor([[0.0, 0.0], [3.0, -1.0]])
    torch.testing.assert_close(bc_loss(prediction, expert, "regression"), torch.tensor([2.5, 5.0]))
    # one action value: the expert's (B,) against the prediction's (B, 1)
    torch.testing.assert_close(
        bc_loss(torch.tensor([[1.0], [2.0]]), torch.tensor([3.0, 2.0]), "regression"), torch.tensor([4.0, 0.0])
    )
    with pytest.raises(ValueError, match="unknown kind 'ranking'; known: classification, regression"):
        bc_loss(logits, torch.tensor([0, 2]), "ranking")


def test_bc_trains_on_its_module_level_loss(tiny_demos, monkeypatch):
    """BC's learner descends ``agents.imitation.bc_loss``: replaced by the loss of the *other*
    action, the clone learns to disagree with the expert (its validation agreement after the last
    pass; the weights BC keeps are the best-agreeing ones, by validation, whatever it trained on)."""
    config = BCConfig(demos=str(tiny_demos), epochs=10, patience=0, batch_size=16, learning_rate=3e-3, hidden=[32])

    def final_agreement() -> float:
        seen = []
        BC(TINY, config, seed=0, device="cpu").learn(callback=lambda a, m: seen.append(m))
        return seen[-1]["train/val_expert_agreement"]

    assert final_agreement() > 0.9
    true_loss, calls = bc_loss, []

    def contrary(prediction, expert_action, kind):
        calls.append(kind)
        return true_loss(prediction, 1 - expert_action, kind)

    monkeypatch.setattr(imitation, "bc_loss", contrary)
    assert final_agreement() < 0.1
    assert calls and set(calls) == {"classification"}


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
    summary = capsys.readouterr().out
    agreement = [line for line in summary.splitlines() if line.startswith("agreement:")]
    assert len(agreement) == 1 and "fraction of held-out expert steps" in agreement[0]
    assert 0.0 <= float(agreement[0].split()[1]) <= 1.0
    assert "expert:      " in summary and "mean return in the demos" in summary
    assert main(["eval", str(run), "--episodes", "2", "--json"]) == 0
    out = capsys.readouterr().out
    assert "mean_reward" in out and "mean_ep_length: 20.0" in out  # played the real (tiny) env
    assert "mean return in the demos (the clone's target" in out


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


def test_gail_trains_its_discriminator_on_the_module_level_loss(tiny_demos, monkeypatch):
    """GAIL's discriminator update calls ``agents.imitation.discriminator_loss`` (the one of
    agents.adversarial): with its labels swapped, D learns to reward the policy's wrong actions
    above the expert's."""
    assert imitation.discriminator_loss is adversarial.discriminator_loss
    true_loss, calls = adversarial.discriminator_loss, []

    def swapped(real_logits, fake_logits, loss="standard"):
        calls.append(loss)
        return true_loss(fake_logits, real_logits, loss)

    monkeypatch.setattr(imitation, "discriminator_loss", swapped)
    agent = GAIL(TINY, gail_config(tiny_demos, disc_hidden=[32], disc_learning_rate=3e-3), seed=0, device="cpu")
    demos = load_demos(tiny_demos)
    right = agent.features(demos.observations, demos.actions)  # (200, 4)
    wrong = agent.features(demos.observations, 1 - demos.actions)
    for _ in range(60):
        agent.update_discriminator(wrong)
    assert calls and set(calls) == {"standard"}
    with torch.no_grad():
        margin = adversarial_reward(agent.discriminator(right)) - adversarial_reward(agent.discriminator(wrong))
    assert (margin < 0).float().mean() > 0.9  # the unpatched test above: > 0 for 90%


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
