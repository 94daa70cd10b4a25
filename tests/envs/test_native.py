"""gymlab's vector envs (CartPole as arrays, the serial loop for every other env) give the episodes
of gymnasium's SyncVectorEnv + SAME_STEP autoreset + RecordEpisodeStatistics, bit for bit, and
make_vec_env picks them for "auto"."""

import gymnasium as gym
import numpy as np
import pytest

from envs import CartPoleVectorEnv, make_vec_env
from envs.native import SerialVectorEnv


def reference(n: int) -> gym.vector.VectorEnv:
    return make_vec_env("CartPole-v1", n, "sync")


def policy_actions(rng: np.random.Generator, obs: np.ndarray, t: int) -> np.ndarray:
    """Random actions (episodes end by falling) alternating with stretches of a balancing
    controller (episodes reach the 500-step limit)."""
    if (t // 1500) % 2 == 0:
        return rng.integers(0, 2, len(obs))
    return (obs[:, 2] + 0.5 * obs[:, 3] > 0).astype(np.int64)


@pytest.mark.parametrize("n", [1, 5])
def test_steps_are_identical_to_gymnasium(n):
    native, ref = CartPoleVectorEnv(n), reference(n)
    obs, _ = native.reset(seed=7)
    ref_obs, _ = ref.reset(seed=7)
    np.testing.assert_array_equal(obs, ref_obs)
    ended = {"terminated": 0, "truncated": 0}
    rng = np.random.default_rng(0)
    for t in range(6000):
        actions = policy_actions(rng, ref_obs, t)
        out, ref_out = native.step(actions), ref.step(actions)
        ref_obs = ref_out[0]
        for a, b in zip(out[:4], ref_out[:4]):
            np.testing.assert_array_equal(a, b)
            assert a.dtype == b.dtype
        info, ref_info = out[4], ref_out[4]
        assert set(info) == set(ref_info)
        if "_episode" in ref_info:
            ended["terminated"] += int(out[2].sum())
            ended["truncated"] += int(out[3].sum())
            np.testing.assert_array_equal(info["_episode"], ref_info["_episode"])
            np.testing.assert_array_equal(info["episode"]["r"], ref_info["episode"]["r"])
            np.testing.assert_array_equal(info["episode"]["l"], ref_info["episode"]["l"])
            np.testing.assert_array_equal(info["_final_obs"], ref_info["_final_obs"])
            for i in np.flatnonzero(ref_info["_final_obs"]):
                np.testing.assert_array_equal(info["final_obs"][i], ref_info["final_obs"][i])
    assert ended["terminated"] > 0 and ended["truncated"] > 0  # both kinds of ending were compared
    # an unseeded reset continues each copy's generator, as gymnasium's does
    np.testing.assert_array_equal(native.reset()[0], ref.reset()[0])


def assert_same_step(out, ref_out) -> None:
    for a, b in zip(out[:4], ref_out[:4]):
        np.testing.assert_array_equal(a, b)
        assert a.dtype == b.dtype
    info, ref_info = out[4], ref_out[4]
    assert set(info) == set(ref_info)
    for key, value in ref_info.items():
        if key == "episode":
            for stat in ("r", "l"):
                np.testing.assert_array_equal(info[key][stat], value[stat])
        elif key == "final_obs":
            for i in np.flatnonzero(ref_info["_final_obs"]):
                np.testing.assert_array_equal(info[key][i], value[i])
        elif key != "final_info":
            np.testing.assert_array_equal(info[key], value)


@pytest.mark.parametrize(
    ("env_id", "steps"), [("LunarLander-v3", 400), ("Pendulum-v1", 450), ("Acrobot-v1", 600), ("gymlab/Digits-v0", 20)]
)
def test_serial_vector_env_is_sync_vector_env(env_id, steps):
    """Discrete and Box actions, terminations and truncations, per-env infos (Digits' accuracy)."""
    serial, ref = make_vec_env(env_id, 3, "auto"), make_vec_env(env_id, 3, "sync")
    assert isinstance(serial, SerialVectorEnv)
    assert serial.observation_space == ref.observation_space and serial.action_space == ref.action_space
    obs, _ = serial.reset(seed=11)
    np.testing.assert_array_equal(obs, ref.reset(seed=11)[0])
    ref.action_space.seed(3)
    ended = 0
    for _ in range(steps):
        actions = ref.action_space.sample()
        out, ref_out = serial.step(actions), ref.step(actions)
        assert_same_step(out, ref_out)
        ended += int(ref_out[2].sum() + ref_out[3].sum())
    assert ended > 0  # episode ends (and their resets) were compared
    serial.close()


def test_spaces_match_and_bad_actions_are_refused():
    native, ref = CartPoleVectorEnv(3), reference(3)
    assert native.single_observation_space == ref.single_observation_space
    assert native.observation_space == ref.observation_space
    assert native.action_space == ref.action_space
    with pytest.raises(gym.error.ResetNeeded):
        native.step(np.zeros(3, dtype=np.int64))
    native.reset(seed=0)
    with pytest.raises(ValueError, match="actions must be 3 values"):
        native.step(np.array([0, 2, 1]))


def test_make_vec_env_uses_native_only_when_auto_and_plain(tmp_path):
    assert isinstance(make_vec_env("CartPole-v1", 4), CartPoleVectorEnv)
    assert isinstance(make_vec_env("CartPole-v1", 2), SerialVectorEnv)  # too few copies for arrays to pay
    assert not isinstance(make_vec_env("CartPole-v1", 4, "sync"), CartPoleVectorEnv)
    assert not isinstance(make_vec_env("CartPole-v1", 4, "auto", {"sutton_barto_reward": True}), CartPoleVectorEnv)
    assert not isinstance(make_vec_env("CartPole-v1", 4, video_dir=tmp_path / "videos"), CartPoleVectorEnv)
    assert isinstance(make_vec_env("Acrobot-v1", 2), SerialVectorEnv)
    assert not isinstance(make_vec_env("Acrobot-v1", 2, "sync"), SerialVectorEnv)
    with pytest.raises(ValueError, match="vectorization must be one of auto, sync, async"):
        make_vec_env("CartPole-v1", 2, "fast")
