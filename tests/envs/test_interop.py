"""gymlab's single-step envs used unchanged by other libraries' tooling (SB3, gymnasium.vector).

SB3 PPO beating chance on Digits lives in test_single_step.py; this file covers the rest:
vector-env builders, the other action spaces, and an off-policy learner.
"""

import gymnasium as gym
import numpy as np
import pytest
import torch

import envs  # noqa: F401  (registers the gymlab/* ids)
from tests.envs.conftest import sb3_test_accuracy


@pytest.fixture(autouse=True)
def one_thread():
    """SB3 uses torch's default thread count, which oversubscribes a small machine badly."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_gymnasium_and_sb3_vector_builders_take_gymlab_ids():
    from stable_baselines3.common.env_util import make_vec_env

    vec = gym.make_vec("gymlab/Digits-v0", num_envs=3, vectorization_mode="sync")
    obs, _ = vec.reset(seed=0)
    assert obs.shape == (3, 1, 8, 8)
    _, reward, terminated, _, _ = vec.step(np.array([0, 1, 2]))
    assert reward.shape == (3,) and terminated.all()
    vec.close()

    sb3_vec = make_vec_env("gymlab/Sequence-v0", n_envs=2, seed=0)
    obs = sb3_vec.reset()
    assert obs.shape == (2, 16, 8)
    _, reward, done, infos = sb3_vec.step(np.zeros((2, 16), dtype=np.int64))
    assert done.all() and "episode" in infos[0]  # SB3's Monitor saw a whole one-step episode
    assert 0.0 <= reward.min() and reward.max() <= 1.0  # fraction of tokens labelled right
    sb3_vec.close()


@pytest.mark.parametrize(
    ("env_id", "kwargs"),
    [("gymlab/Sequence-v0", {}), ("gymlab/Diabetes-v0", {}), ("gymlab/Digits-v0", {"mode": "prediction"})],
)
def test_sb3_a2c_runs_on_multidiscrete_and_box_actions(env_id, kwargs):
    from stable_baselines3 import A2C

    model = A2C("MlpPolicy", gym.make(env_id, **kwargs), n_steps=16, seed=0, device="cpu")
    model.learn(64)
    action, _ = model.predict(model.env.reset(), deterministic=True)
    assert action.shape == (1, *model.action_space.shape)


@pytest.mark.slow
def test_sb3_dqn_learns_digits_off_policy():
    """A value-based learner on the contextual bandit: Q(x, label) is the expected correctness."""
    from stable_baselines3 import DQN

    model = DQN(
        "MlpPolicy", gym.make("gymlab/Digits-v0"), learning_starts=256, buffer_size=10_000, batch_size=64,
        exploration_fraction=0.3, learning_rate=1e-3, target_update_interval=250, seed=0, device="cpu",
    )  # fmt: skip
    model.learn(3000)  # ~10 s on one core; 97% test accuracy when written
    accuracy = sb3_test_accuracy(model)
    assert accuracy > 0.85  # chance is 10%
