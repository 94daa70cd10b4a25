"""Tests for envs.single_step: rewards are -losses, gradients reach the action, epochs, API checks."""

import math
import warnings

import gymnasium as gym
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from gymnasium.utils.env_checker import check_env as gym_check_env
from stable_baselines3.common.env_checker import check_env as sb3_check_env

from envs.single_step import (
    PREDICTION_BOUND,
    SingleStepEnv,
    SingleStepVectorEnv,
    prediction_reward,
    register_envs,
    task_env_ids,
)
from supervised import load_task, register_task
from supervised.kinds import cross_entropy_loss, label_reward, squared_error
from tests.envs.conftest import sb3_test_accuracy

register_envs()


# ----------------------------------------------------------------------------- losses
def test_losses_known_answers():
    logits = torch.tensor([[0.0, 0.0], [0.0, math.log(3.0)]])  # (B, n_classes)
    target = torch.tensor([0, 1])
    # softmax([0, ln 3]) = [1/4, 3/4]
    expected = torch.tensor([math.log(2.0), -math.log(0.75)])
    torch.testing.assert_close(cross_entropy_loss(logits, target), expected)
    torch.testing.assert_close(
        squared_error(torch.tensor([[1.0], [-2.0]]), torch.tensor([3.0, -2.0])),
        torch.tensor([4.0, 0.0]),
    )
    torch.testing.assert_close(  # several values per example: the mean of their squared errors
        squared_error(torch.tensor([[1.0, 2.0], [0.0, 0.0]]), torch.tensor([[0.0, 0.0], [1.0, -1.0]])),
        torch.tensor([2.5, 1.0]),
    )
    torch.testing.assert_close(
        label_reward(torch.tensor([[1, 2, 3, 0]]), torch.tensor([[1, 2, 0, 1]])),
        torch.tensor([0.5]),
    )


def test_prediction_reward_matches_torch_losses():
    torch.manual_seed(0)
    logits, target = torch.randn(5, 10), torch.randint(0, 10, (5,))
    torch.testing.assert_close(
        prediction_reward(logits, target, "classification"),
        -F.cross_entropy(logits, target, reduction="none"),
    )
    seq_logits, seq_target = torch.randn(3, 16, 4), torch.randint(0, 4, (3, 16))
    per_position = F.cross_entropy(seq_logits.transpose(1, 2), seq_target, reduction="none")
    torch.testing.assert_close(prediction_reward(seq_logits, seq_target, "sequence"), -per_position.mean(dim=1))
    with pytest.raises(ValueError, match="unknown kind 'ranking'"):
        prediction_reward(logits, target, "ranking")


def test_gradient_of_reward_is_the_analytic_one():
    logits = torch.tensor([[1.0, -0.5, 0.25]], requires_grad=True)
    target = torch.tensor([2])
    (-prediction_reward(logits, target, "classification")).sum().backward()
    # d CE / d logits = softmax(logits) - one_hot(target)
    expected = torch.softmax(logits.detach(), dim=-1) - F.one_hot(target, 3).float()
    torch.testing.assert_close(logits.grad, expected)

    value = torch.tensor([[0.5]], requires_grad=True)
    prediction_reward(value, torch.tensor([2.0]), "regression").sum().backward()
    torch.testing.assert_close(value.grad, torch.tensor([[-2.0 * (0.5 - 2.0)]]))  # -d(p-y)^2/dp


# ----------------------------------------------------------------------------- single env
@pytest.mark.parametrize("env_id", sorted(task_env_ids()))
@pytest.mark.parametrize("mode", [None, "prediction"])
def test_gymnasium_and_sb3_check_env_pass(env_id, mode):
    env = gym.make(env_id, **({} if mode is None else {"mode": mode}))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # float images, ±100 action box: warnings, not errors
        gym_check_env(env.unwrapped)
        sb3_check_env(env)
    env.close()


def test_register_envs_is_idempotent_and_make_takes_overrides():
    register_envs()
    register_envs()
    env = gym.make("gymlab/Digits-v0", split="test", mode="prediction")
    assert env.unwrapped.dataset.split == "test"
    assert env.action_space.shape == (10,)
    assert isinstance(gym.make("gymlab/Digits-v0").action_space, gym.spaces.Discrete)
    assert gym.make("gymlab/Diabetes-v0").unwrapped.mode == "prediction"


def test_single_env_reward_is_minus_loss_and_target_in_info():
    env = SingleStepEnv("digits", split="val", mode="prediction")
    obs, _ = env.reset(seed=1)
    logits = np.linspace(-1.0, 1.0, 10, dtype=np.float32)
    next_obs, reward, terminated, truncated, info = env.step(logits)
    expected = -F.cross_entropy(torch.tensor(logits)[None], torch.tensor([info["target"]]))
    assert reward == pytest.approx(float(expected), rel=1e-6)
    assert (terminated, truncated) == (True, False)
    np.testing.assert_array_equal(next_obs, obs)

    env = SingleStepEnv("piecewise", mode="prediction")
    env.reset(seed=0)
    _, reward, _, _, info = env.step(np.array([0.25], dtype=np.float32))
    assert reward == pytest.approx(-((0.25 - info["target"]) ** 2), rel=1e-5)


def test_single_env_label_mode_rewards_correctness():
    env = SingleStepEnv("digits")
    env.reset(seed=0)
    target = int(env.dataset.y[env._index])
    assert env.step(target)[1] == 1.0
    env.reset()
    target = int(env.dataset.y[env._index])
    assert env.step((target + 1) % 10)[1] == 0.0

    env = SingleStepEnv("sequence")
    env.reset(seed=0)
    labels = env.dataset.y[env._index].copy()
    labels[:4] = (labels[:4] + 1) % 4  # 4 of 16 wrong
    _, reward, _, _, info = env.step(labels)
    assert reward == pytest.approx(0.75) and info["target"].shape == (16,)


def test_single_env_epoch_visits_every_example_once_and_reseeds():
    env = SingleStepEnv("diabetes", split="val", mode="prediction")
    n = len(env.dataset)
    seen = [env.reset(seed=7)[1]["index"]] + [env.reset()[1]["index"] for _ in range(n - 1)]
    assert sorted(seen) == list(range(n))
    assert env.reset()[1]["epoch"] == 1  # the next pass starts
    again = [env.reset(seed=7)[1]["index"]] + [env.reset()[1]["index"] for _ in range(n - 1)]
    assert again == seen
    other = [env.reset(seed=8)[1]["index"]] + [env.reset()[1]["index"] for _ in range(n - 1)]
    assert other != seen


def test_single_env_rejects_bad_actions_with_one_line_messages():
    env = SingleStepEnv("digits")
    env.reset(seed=0)
    with pytest.raises(ValueError, match=r"must have shape \(\), got \(2,\)"):
        env.step(np.array([1, 2]))
    with pytest.raises(ValueError, match="must be integer class labels, got dtype float64"):
        env.step(3.0)
    with pytest.raises(ValueError, match=r"must be in \[0, 9\], got 10"):
        env.step(10)
    env = SingleStepEnv("digits", mode="prediction")
    env.reset(seed=0)
    with pytest.raises(ValueError, match=r"must have shape \(10,\), got \(9,\)"):
        env.step(np.zeros(9, dtype=np.float32))
    with pytest.raises(ValueError, match="must be finite and within ±100"):
        env.step(np.full(10, np.nan, dtype=np.float32))
    with pytest.raises(ValueError, match="must be finite and within ±100"):
        env.step(np.full(10, 2 * PREDICTION_BOUND, dtype=np.float32))
    with pytest.raises(ValueError, match="must be real numbers, got dtype <U1"):
        env.step(np.array(list("abcdefghij")))
    env.step(np.zeros(10, dtype=np.float64))  # float64 is fine
    with pytest.raises(RuntimeError, match="call reset"):
        env.step(np.zeros(10, dtype=np.float32))  # the episode ended


def test_bad_constructor_arguments_raise_value_error():
    with pytest.raises(ValueError, match="unknown task 'cifar'; known"):
        SingleStepEnv("cifar")
    with pytest.raises(ValueError, match="unknown split 'dev'"):
        SingleStepEnv("digits", split="dev")
    with pytest.raises(ValueError, match="unknown mode 'logits'; choose one of: label, prediction"):
        SingleStepEnv("digits", mode="logits")
    with pytest.raises(ValueError, match="'diabetes' is regression .* use mode='prediction'"):
        SingleStepEnv("diabetes", mode="label")


def test_render_rgb_array():
    env = gym.make("gymlab/Digits-v0", render_mode="rgb_array")
    obs, _ = env.reset(seed=0)
    frame = env.render()
    assert frame.shape == (64, 64, 3) and frame.dtype == np.uint8
    assert frame[0, 0, 0] == round(255 * obs[0, 0, 0])  # one 8x8 block per pixel
    sequence_frame = gym.make("gymlab/Sequence-v0", render_mode="rgb_array").unwrapped.render()
    assert sequence_frame.shape == (128, 64, 3)  # (T=16, vocab=8) cells of 8x8 pixels


def test_sb3_ppo_runs_on_digits_rewarded_for_right_labels():
    """SB3's PPO, unchanged: every step it takes is rewarded 1 exactly when its label is the
    target, and its rollout buffer holds those rewards (learning is the slow test below)."""
    from stable_baselines3 import PPO

    class Seen(gym.Wrapper):
        """Keeps (action, target, reward) of every step SB3 takes."""

        steps: list = []

        def step(self, action):
            obs, reward, terminated, truncated, info = self.env.step(action)
            Seen.steps.append((int(action), info["target"], reward))
            return obs, reward, terminated, truncated, info

    env = Seen(gym.make("gymlab/Digits-v0"))
    model = PPO("MlpPolicy", env, n_steps=64, batch_size=32, n_epochs=1, seed=0, device="cpu")
    model.learn(256)
    assert len(Seen.steps) == 256
    assert all(reward == float(action == target) for action, target, reward in Seen.steps)
    assert 0 < sum(r for *_, r in Seen.steps) < 256  # both rewards occurred: the check above saw each
    np.testing.assert_array_equal(model.rollout_buffer.rewards[:, 0], [r for *_, r in Seen.steps[-64:]])


@pytest.mark.slow
def test_sb3_ppo_beats_chance_on_digits_as_a_contextual_bandit():
    """Reward only, no gradient: the lecture's "treat the loss as a reward" remark, made literal."""
    from stable_baselines3 import PPO

    env = gym.make("gymlab/Digits-v0")
    model = PPO("MlpPolicy", env, n_steps=256, learning_rate=1e-3, seed=0, device="cpu")
    model.learn(8192)  # ~6 s on 2 CPU cores; reached 95% test accuracy when written
    accuracy = sb3_test_accuracy(model)
    # chance is 10% (sd ~1.8% over 269 test images); 80% leaves room for seed-to-seed spread
    assert accuracy > 0.8


# ----------------------------------------------------------------------------- vector env
def test_vector_env_reward_is_minus_loss_and_differentiable():
    env = SingleStepVectorEnv("digits", num_envs=8, split="val")
    obs, _ = env.reset(seed=0)
    assert obs.shape == (8, 1, 8, 8) and obs.dtype == torch.float32
    logits = torch.randn(8, 10, generator=torch.Generator().manual_seed(0), requires_grad=True)
    next_obs, reward, terminated, truncated, info = env.step(logits)
    target = info["target"]
    torch.testing.assert_close(reward, -F.cross_entropy(logits, target, reduction="none"))
    assert terminated.all() and not truncated.any() and next_obs.shape == obs.shape
    (-reward).mean().backward()
    assert logits.grad is not None and logits.grad.abs().sum() > 0
    expected = (torch.softmax(logits.detach(), -1) - F.one_hot(target, 10).float()) / 8
    torch.testing.assert_close(logits.grad, expected)


def test_vector_env_regression_and_sequence_gradients():
    env = SingleStepVectorEnv("diabetes", num_envs=4)
    env.reset(seed=0)
    values = torch.zeros(4, 1, requires_grad=True)
    _, reward, _, _, info = env.step(values)
    torch.testing.assert_close(reward, -(info["target"] ** 2))
    (-reward).sum().backward()
    torch.testing.assert_close(values.grad[:, 0], -2.0 * info["target"])  # d(p-y)^2/dp at p=0

    env = SingleStepVectorEnv("sequence", num_envs=3)
    env.reset(seed=0)
    logits = torch.zeros(3, 16, 4, requires_grad=True)
    _, reward, _, _, _ = env.step(logits)
    torch.testing.assert_close(reward, torch.full((3,), -math.log(4.0)))
    reward.sum().backward()
    assert logits.grad.abs().sum() > 0


def test_vector_env_label_mode_counts_correct_labels():
    env = SingleStepVectorEnv("digits", num_envs=16, mode="label")
    env.reset(seed=0)
    _, reward, _, _, info = env.step(torch.zeros(16, dtype=torch.int64))
    torch.testing.assert_close(reward, (info["target"] == 0).float())
    assert env.action_space.shape == (16,)


@pytest.mark.parametrize("num_envs", [66, 10, 64])  # divides the 66-row split, leaves 6, leaves 2
def test_vector_env_epoch_visits_every_example_exactly_once(num_envs):
    env = SingleStepVectorEnv("diabetes", num_envs=num_envs, split="val")
    n = len(env.dataset)
    _, info = env.reset(seed=3)
    counts = torch.zeros(n, dtype=torch.int64)
    for _ in range(env.steps_per_epoch):
        _, reward, _, _, info = env.step(torch.zeros(num_envs, 1))
        assert reward.shape == (num_envs,)  # every batch is full, even at an epoch's end
        first_pass = info["epoch"] == 0
        counts.index_add_(0, info["index"][first_pass], torch.ones_like(info["index"][first_pass]))
    assert counts.tolist() == [1] * n
    assert (info["epoch"] == 1).sum() == env.steps_per_epoch * num_envs - n


def test_vector_env_order_is_seeded():
    def indices(seed):
        env = SingleStepVectorEnv("digits", num_envs=32)
        _, info = env.reset(seed=seed)
        return [info["index"]] + [env.step(torch.zeros(32, 10))[4]["index"] for _ in range(3)]

    first, again, other = indices(5), indices(5), indices(6)
    assert all(torch.equal(a, b) for a, b in zip(first, again, strict=True))
    assert not torch.equal(first[0], other[0])


def test_vector_env_supports_a_pathwise_learner():
    """Plain supervised training, written as an agent maximising the env's reward."""
    torch.manual_seed(0)
    env = SingleStepVectorEnv("digits", num_envs=64)
    policy = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 10))
    optimizer = torch.optim.Adam(policy.parameters(), lr=0.05)
    obs, _ = env.reset(seed=0)
    for _ in range(10 * env.steps_per_epoch):
        obs, reward, _, _, _ = env.step(policy(obs))  # the returned obs is the next batch
        optimizer.zero_grad()
        (-reward).mean().backward()
        optimizer.step()
    # One batch holding the whole test split is exactly one epoch.
    test = SingleStepVectorEnv("digits", num_envs=len(load_task("digits", "test")), split="test")
    obs, _ = test.reset(seed=0)
    with torch.no_grad():
        logits = policy(obs)
    _, _, _, _, info = test.step(logits)
    accuracy = (logits.argmax(-1) == info["target"]).float().mean()
    assert accuracy > 0.9


def test_vector_env_rejects_bad_inputs_with_one_line_messages():
    with pytest.raises(ValueError, match=r"must be an int in \[1, 66\] for the 66-example 'val'"):
        SingleStepVectorEnv("diabetes", num_envs=67, split="val")
    with pytest.raises(ValueError, match="'piecewise' is regression"):
        SingleStepVectorEnv("piecewise", num_envs=4, mode="label")
    env = SingleStepVectorEnv("digits", num_envs=4)
    with pytest.raises(RuntimeError, match="call reset"):
        env.step(torch.zeros(4, 10))
    env.reset(seed=0)
    with pytest.raises(ValueError, match=r"must have shape \(4, 10\), got \(4, 9\)"):
        env.step(torch.zeros(4, 9))
    with pytest.raises(ValueError, match="must be floating point .* got dtype torch.int64"):
        env.step(torch.zeros(4, 10, dtype=torch.int64))
    with pytest.raises(ValueError, match="must be finite"):
        env.step(torch.full((4, 10), float("nan")))
    with pytest.raises(TypeError, match="must be a torch.Tensor, got list"):
        env.step([[0.0] * 10] * 4)
    env.step(np.zeros((4, 10), dtype=np.float32))  # numpy is moved to the env's device
    labels = SingleStepVectorEnv("digits", num_envs=4, mode="label")
    labels.reset(seed=0)
    with pytest.raises(ValueError, match=r"must be in \[0, 9\]"):
        labels.step(torch.tensor([0, 1, 2, 10]))
    with pytest.raises(ValueError, match="must be integer class labels, got dtype torch.float32"):
        labels.step(torch.zeros(4))


def test_a_task_of_several_regression_values_acts_with_all_of_them():
    x = np.linspace(-1, 1, 60, dtype=np.float32).reshape(30, 2)
    y = np.stack([x.sum(1), x[:, 0] - x[:, 1]], 1)
    register_task("test-two-values", load=lambda: (x, y), kind="regression", listed=False, replace=True)
    env = SingleStepEnv("test-two-values", mode="prediction")
    assert env.action_space.shape == (2,)
    obs, _ = env.reset(seed=0)
    _, reward, terminated, _, info = env.step(np.zeros(2, np.float32))
    target = np.array([obs.sum(), obs[0] - obs[1]], np.float32)
    np.testing.assert_allclose(info["target"], target)
    assert terminated and reward == pytest.approx(-np.square(target).mean())
    vec = SingleStepVectorEnv("test-two-values", 4, mode="prediction")
    obs, _ = vec.reset(seed=0)
    prediction = torch.zeros(4, 2, requires_grad=True)
    _, rewards, _, _, info = vec.step(prediction)
    assert info["target"].shape == (4, 2)
    torch.testing.assert_close(rewards, -info["target"].square().mean(1))
    rewards.sum().backward()  # d reward / d prediction = -2 (prediction - target) / 2 values
    torch.testing.assert_close(prediction.grad, info["target"])
    with pytest.raises(ValueError, match="must have shape"):
        env.reset(seed=0)
        env.step(np.zeros(1, np.float32))
