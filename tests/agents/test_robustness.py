"""Tests for agents.robustness: a trained run's figures under attack, through the wrapper."""

import pytest

from agents import PPO, Supervised
from agents.robustness import attackable_model, evaluate_under_attack


@pytest.fixture(scope="module")
def digits_mlp():
    return Supervised("gymlab/Digits-v0", net="mlp", hidden=[64], epochs=3).learn()


def test_eps_zero_is_the_clean_accuracy_and_fgsm_lowers_it(digits_mlp):
    clean = digits_mlp.evaluate()["accuracy"]
    assert evaluate_under_attack(digits_mlp, "fgsm", 0.0)["accuracy"] == pytest.approx(clean)
    attacked = evaluate_under_attack(digits_mlp, "fgsm", 0.3)
    assert attacked["mean_ep_length"] == 1.0 and attacked["accuracy"] < clean - 0.3


def test_a_transfer_attack_uses_the_proxys_gradients(digits_mlp):
    proxy = Supervised("gymlab/Digits-v0", net="mlp", hidden=[32], epochs=3, seed=1).learn()
    white_box = evaluate_under_attack(digits_mlp, "fgsm", 0.2)["accuracy"]
    transfer = evaluate_under_attack(digits_mlp, "fgsm", 0.2, proxy=proxy)["accuracy"]
    assert transfer != white_box and transfer < digits_mlp.evaluate()["accuracy"]
    cartpole = PPO("CartPole-v1", n_steps=32, n_envs=2)
    with pytest.raises(ValueError, match="a transfer attack needs a proxy trained on the same observations"):
        evaluate_under_attack(digits_mlp, "fgsm", 0.2, proxy=cartpole)


def test_a_policy_is_attacked_for_whole_episodes():
    agent = PPO("CartPole-v1", n_steps=32, n_envs=2)
    stats = evaluate_under_attack(agent, "noise", 0.05, episodes=2)
    assert stats["mean_ep_length"] >= 8 and stats["mean_reward"] == stats["mean_ep_length"]


def test_continuous_actions_and_regression_are_refused():
    with pytest.raises(ValueError, match="need a classifier or a discrete-action policy"):
        attackable_model(PPO("Pendulum-v1", n_steps=32, n_envs=2))
    with pytest.raises(ValueError, match="need a classifier or a discrete-action policy"):
        attackable_model(Supervised("gymlab/Diabetes-v0"))


def test_a_targeted_attack_reports_its_target_rate(digits_mlp):
    import torch

    from supervised import load_task

    test = load_task("digits", "test")
    with torch.no_grad():
        predicted = digits_mlp.model(torch.tensor(test.x)).argmax(-1)
    untouched = evaluate_under_attack(digits_mlp, "fgsm", 0.0, target=4)  # eps 0: the clean predictions
    assert untouched["target_rate"] == pytest.approx(float((predicted == 4).float().mean()))
    attacked = evaluate_under_attack(digits_mlp, "pgd", 0.3, target=4)
    assert attacked["target_rate"] > untouched["target_rate"] + 0.3
    assert "target_rate" not in evaluate_under_attack(digits_mlp, "pgd", 0.3)
