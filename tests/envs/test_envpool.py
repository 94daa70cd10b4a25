"""vectorization=envpool steps as gymnasium does where it is offered, and is refused in one line
elsewhere.

envpool draws start states, no-op starts and sticky actions from its own generator, so the same
seed gives other episodes than gymnasium's: what is compared is each step from the same state.
Classic control: gymnasium's env is put in envpool's state before every step (the state is the
float32 observation, so to float32 rounding). Atari: gymnasium's emulator gets envpool's RAM
after each new game, then the same actions give the same frames, rewards, lives and scores."""

import gymnasium as gym
import numpy as np
import pytest

pytest.importorskip("envpool")

from envs import envpool as pool_envs  # noqa: E402
from envs import make_env, make_vec_env  # noqa: E402
from gymlab.cli import main  # noqa: E402
from tests.tiny import TINY, train_tiny  # noqa: E402


def set_state(env_id: str, env: gym.Env, obs: np.ndarray) -> None:
    """Put gymnasium's unwrapped ``env`` in the state envpool observed as ``obs``."""
    u = env.unwrapped
    if env_id == "Acrobot-v1":  # obs: cos/sin of both angles, both speeds
        u.state = np.array([np.arctan2(obs[1], obs[0]), np.arctan2(obs[3], obs[2]), obs[4], obs[5]], dtype=np.float64)
    else:  # CartPole, MountainCar: the observation is the state
        u.state = obs.astype(np.float64)
    if env_id == "CartPole-v1":
        u.steps_beyond_terminated = None


@pytest.mark.parametrize(("env_id", "steps"), [
    ("CartPole-v1", 600), ("Acrobot-v1", 1100), ("MountainCar-v0", 450), ("MountainCarContinuous-v0", 1050),
])  # fmt: skip
def test_classic_control_steps_are_gymnasiums(env_id, steps):
    n = 3
    vec = make_vec_env(env_id, n, "envpool")
    assert isinstance(vec, pool_envs.EnvpoolVectorEnv)
    ref = make_vec_env(env_id, n, "sync")
    assert vec.observation_space == ref.observation_space and vec.action_space == ref.action_space
    max_steps = gym.spec(env_id).max_episode_steps
    models = [gym.make(env_id).unwrapped for _ in range(n)]
    for m in models:
        m.reset(seed=0)
    obs, _ = vec.reset(seed=1)
    assert obs.dtype == np.float32
    vec.action_space.seed(2)
    elapsed = np.zeros(n, dtype=np.int64)
    ends = {"terminated": 0, "truncated": 0}
    for _ in range(steps):
        actions = vec.action_space.sample()
        expected = []
        for i, m in enumerate(models):
            set_state(env_id, m, obs[i])
            expected.append(m.step(actions[i])[:3])  # obs, reward, terminated
        elapsed += 1
        obs, rewards, terminated, truncated, info = vec.step(actions)
        assert rewards.dtype == np.float64
        for i, (next_obs, reward, term) in enumerate(expected):
            ended = terminated[i] or truncated[i]
            seen = info["final_obs"][i] if ended else obs[i]
            np.testing.assert_allclose(seen, next_obs, rtol=1e-5, atol=1e-6)
            assert rewards[i] == pytest.approx(reward, rel=1e-6, abs=1e-6)
            assert terminated[i] == term
            assert truncated[i] == (elapsed[i] == max_steps)  # (gymnasium TimeLimit: also when terminated)
            if ended:
                assert info["_episode"][i] and info["episode"]["l"][i] == elapsed[i]
                ends["terminated" if term else "truncated"] += 1
                elapsed[i] = 0
    assert sum(ends.values()) > 0, ends  # episode ends and their same-step resets were compared
    vec.close()


def test_classic_control_episode_returns_and_start_states():
    vec = make_vec_env("CartPole-v1", 64, "envpool")
    obs, _ = vec.reset(seed=3)
    assert np.abs(obs).max() <= 0.05  # gymnasium's start distribution: uniform in [-0.05, 0.05]
    np.testing.assert_array_equal(vec.reset(seed=3)[0], obs)  # a seed gives the same start again
    assert not np.array_equal(vec.reset(seed=4)[0], obs)
    vec.reset(seed=3)
    returns = np.zeros(64)
    for _ in range(40):
        obs, rewards, terminated, truncated, info = vec.step(np.ones(64, dtype=np.int64))  # always push right: falls
        returns += rewards
        for i in np.flatnonzero(terminated):
            assert info["episode"]["r"][i] == returns[i] == info["episode"]["l"][i]
            assert np.abs(obs[i]).max() <= 0.05  # reset in the same step
            returns[i] = 0
    assert (returns < 40).all()  # every copy ended at least once


@pytest.mark.parametrize("env_id", ["ALE/Breakout-v5", "ALE/SpaceInvaders-v5"])  # rewards 1; 5 to 30 (clipped)
def test_atari_is_gymlabs_pipeline_from_the_same_emulator_state(env_id):
    """Frames, clipped rewards, lost lives as terminations, FIRE after resets and lives, and the
    whole game's raw score, against envs.pixels' training env, sticky actions and no-ops off.
    Two copies, so that one continues or restarts alone (envpool's partial steps and resets)."""
    n = 2
    vec = pool_envs.make_envpool_vec_env(make_env(env_id, training=True), n, repeat_action_probability=0.0, noop_max=1)
    refs = [make_env(env_id, training=True, repeat_action_probability=0.0) for _ in range(n)]
    obs, _ = vec.reset(seed=0)
    for ref in refs:
        ref.reset(seed=0)
    assert obs.shape == (n, 4, 84, 84) and obs.dtype == np.uint8

    def sync(i: int) -> None:  # gymnasium's emulator i takes envpool's RAM of copy i
        for address, value in enumerate(vec.ram[i]):
            refs[i].unwrapped.ale.setRAM(address, int(value))

    for i in range(n):
        sync(i)
    since_reset = np.zeros(n, dtype=np.int64)
    games, lives_lost, rewarded = np.zeros(n, dtype=np.int64), 0, 0
    rng = np.random.default_rng(0)
    while games.min() < 1 or games.sum() < 3:
        actions = rng.integers(4, size=n)
        obs, rewards, terminated, truncated, info = vec.step(actions)
        since_reset += 1
        for i, ref in enumerate(refs):
            ref_obs, ref_reward, ref_term, ref_trunc, ref_info = ref.step(int(actions[i]))
            last = info["final_obs"][i] if terminated[i] or truncated[i] else obs[i]
            game_over = "episode" in ref_info  # its last frame: cut short inside the frame skip, pooled otherwise
            compared = slice(4 - min(since_reset[i], 4), 4 - game_over)  # the frames emulated since the sync
            np.testing.assert_array_equal(last[compared], ref_obs[compared])
            assert (rewards[i], terminated[i], truncated[i]) == (ref_reward, ref_term, ref_trunc)
            rewarded += ref_reward > 0
            if not (ref_term or ref_trunc):
                continue
            ref_obs, _ = ref.reset()
            if game_over:  # its raw score is logged
                games[i] += 1
                assert info["_episode"][i] and info["episode"]["r"][i] == ref_info["episode"]["r"]
                assert abs(info["episode"]["l"][i] - ref_info["episode"]["l"]) <= pool_envs.NOOP_MAX  # (no-op frames)
                sync(i)
                since_reset[i] = 0
            else:  # a life lost: both continue the game with a no-op and FIRE, the stack refilled
                lives_lost += 1
                assert not info.get("_episode", np.zeros(n, dtype=bool))[i]
                np.testing.assert_array_equal(obs[i], ref_obs)
    assert lives_lost >= 8 and rewarded > 0


def test_atari_defaults_are_ale_v5s():
    vec = make_vec_env("ALE/Breakout-v5", 2, "envpool")
    config = vec.pool.config
    assert config["repeat_action_probability"] == pool_envs.STICKY_ACTIONS == 0.25
    assert (config["noop_max"], config["frame_skip"], config["img_height"]) == (30, 4, 84)
    assert not config["episodic_life"] and not config["reward_clip"]  # done on arrays, as envs.pixels does
    assert vec.observation_space == make_vec_env("ALE/Breakout-v5", 2, "sync").observation_space


@pytest.mark.parametrize(("env_id", "kwargs", "message"), [
    ("Pendulum-v1", {}, "refuses Pendulum-v1: envpool's Pendulum-v1 moves the angle by the unclipped speed"),
    ("LunarLander-v3", {}, "serves CartPole-v1, .* not LunarLander-v3"),
    ("gymlab/Digits-v0", {}, "not gymlab/Digits-v0"),
    ("CartPole-v1", {"env_kwargs": {"sutton_barto_reward": True}}, "takes no env kwargs"),
    ("CartPole-v1", {"video_dir": "videos"}, "cannot record training videos"),
])  # fmt: skip
def test_refusals_are_one_line(env_id, kwargs, message):
    with pytest.raises(ValueError, match=message) as error:
        make_vec_env(env_id, 2, "envpool", **kwargs)
    assert "\n" not in str(error.value)


def test_refused_when_not_installed(monkeypatch):
    monkeypatch.setattr(pool_envs, "installed", lambda: False)
    with pytest.raises(ValueError, match="needs envpool"):
        make_vec_env("CartPole-v1", 2, "envpool")


def test_cli_trains_with_envpool_and_refuses_in_one_line(tmp_path, capsys):
    assert train_tiny(tmp_path / "run", "--set", "vectorization=envpool") == 0
    assert (tmp_path / "run" / "config.json").exists()
    code = main(
        ["train", "ppo", "Pendulum-v1", "--run-dir", str(tmp_path / "p"), *TINY, "--set", "vectorization=envpool"]
    )
    assert code == 2
    assert "vectorization=envpool refuses Pendulum-v1" in capsys.readouterr().err
