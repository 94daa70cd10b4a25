"""Helpers shared by the env tests."""

from envs.single_step import SingleStepEnv


def sb3_test_accuracy(model) -> float:
    """Accuracy of an SB3 model on the digits test split: one epoch, every test image once."""
    test_env = SingleStepEnv("digits", split="test")
    obs, _ = test_env.reset(seed=0)
    correct = 0.0
    for _ in range(len(test_env.dataset)):
        action, _ = model.predict(obs, deterministic=True)
        correct += test_env.step(int(action))[1]
        obs, _ = test_env.reset()
    return correct / len(test_env.dataset)
