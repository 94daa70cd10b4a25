"""Tests for agents.supervised: the pathwise learner, its checkpoints, early stopping, the CLI,
and test-split evaluation of any learner on a single-step env."""

import io

import gymnasium as gym
import numpy as np
import pytest
import torch

import envs
from agents import runs
from agents.ppo import PPO, PPOConfig
from agents.supervised import Supervised, SupervisedConfig
from gymlab.cli import main
from gymlab.train import build_new
from supervised.datasets import load_task

N_TEST_DIGITS = len(load_task("digits", "test"))


def small_digits(**overrides) -> Supervised:
    config = SupervisedConfig(**{"net": "mlp", "hidden": [128], "epochs": 8, "learning_rate": 3e-3, **overrides})
    return Supervised("gymlab/Digits-v0", config, seed=0, device="cpu")


# ----------------------------------------------------------------------------- learning
def test_learns_digits_in_a_few_seconds():
    agent = small_digits()
    n_train = len(load_task("digits", "train"))
    assert agent.config.total_steps == 8 * n_train  # total_steps=0 means `epochs` passes
    logged: list[dict] = []
    agent.learn(callback=lambda a, m: logged.append(m))
    assert len(logged) == 8 and agent.epoch == 8  # one iteration = one pass over the train split
    assert {"train/loss", "train/learning_rate", "eval/accuracy", "eval/loss"} <= set(logged[-1])
    assert logged[-1]["train/loss"] < logged[0]["train/loss"]
    stats = agent.evaluate()
    assert stats["accuracy"] > 0.9  # chance is 0.1
    assert stats["mean_ep_length"] == 1.0 and stats["loss"] > 0  # the mean cross-entropy
    assert stats["mean_reward"] == pytest.approx(stats["accuracy"])  # label mode: 1 per right label, as record plays
    assert agent.episodes.returns  # rollout/ep_rew_mean is fed (reward = -loss per example)


def test_steps_count_examples_and_budget_cuts_an_epoch_short():
    agent = small_digits()
    agent.learn(total_steps=200)
    assert agent.num_timesteps == 4 * 64  # ceil(200 / batch_size) batches of 64 examples
    assert agent.epoch == 0


def test_act_answers_in_the_envs_mode():
    obs = torch.tensor(load_task("digits", "test").x[:5])
    labels = small_digits().act(obs, deterministic=True)
    assert labels.shape == (5,) and labels.dtype == torch.int64
    logits = Supervised("gymlab/Digits-v0", SupervisedConfig(net="mlp"), env_kwargs={"mode": "prediction"}).act(
        obs, deterministic=True
    )
    assert logits.shape == (5, 10) and logits.dtype == torch.float32
    sequence = Supervised("gymlab/Sequence-v0", SupervisedConfig(net="mlp"), device="cpu")
    tokens = torch.tensor(load_task("sequence", "test").x[:3])
    assert sequence.act(tokens, deterministic=True).shape == (3, 16)  # one label per token
    assert Supervised("gymlab/Diabetes-v0", SupervisedConfig(), device="cpu").predict(
        np.array(load_task("diabetes", "test").x[:2])
    ).shape == (2, 1)


def test_networks_fit_their_tasks():
    attention = Supervised("gymlab/Sequence-v0", SupervisedConfig(net="auto"), device="cpu")
    assert any(type(m).__name__ == "AttentionEncoder" for m in attention.model.modules())
    cnn = Supervised("gymlab/Digits-v0", SupervisedConfig(net="auto"), device="cpu")
    assert any(isinstance(m, torch.nn.Conv2d) for m in cnn.model.modules())
    with pytest.raises(ValueError, match="net=cnn needs image observations"):
        Supervised("gymlab/Diabetes-v0", SupervisedConfig(net="cnn"), device="cpu")
    with pytest.raises(ValueError, match="net=attention needs a sequence task"):
        Supervised("gymlab/Digits-v0", SupervisedConfig(net="attention"), device="cpu")


# ----------------------------------------------------------------------------- checkpoints
def test_save_load_gives_identical_predictions():
    agent = small_digits(epochs=1)
    agent.learn()
    buffer = io.BytesIO()
    torch.save(agent.state_dict(), buffer)
    buffer.seek(0)
    state = torch.load(buffer, weights_only=True)  # a checkpoint can never run code
    fresh = Supervised("gymlab/Digits-v0", agent.config, seed=1, device="cpu")
    fresh.load_state_dict(state)
    x = torch.tensor(load_task("digits", "test").x)
    with torch.no_grad():
        torch.testing.assert_close(fresh.model(x), agent.model(x), rtol=0, atol=0)
    assert fresh.evaluate() == agent.evaluate()
    assert (fresh.epoch, fresh.best_score, fresh.num_timesteps) == (agent.epoch, agent.best_score, agent.num_timesteps)


def test_early_stopping_restores_the_best_weights():
    # a wide net with a large step size overfits 309 Diabetes examples within a few epochs
    config = SupervisedConfig(hidden=[256, 256], learning_rate=1e-2, epochs=200, patience=3, batch_size=16)
    agent = Supervised("gymlab/Diabetes-v0", config, seed=0, device="cpu")
    budget = agent.config.total_steps
    val_mse: list[float] = []
    agent.learn(callback=lambda a, m: val_mse.append(m["eval/mse"]))
    assert agent.stopped_early and agent.num_timesteps < budget
    assert agent.config.total_steps == agent.num_timesteps  # the budget ends where training stopped
    best = min(val_mse)
    assert val_mse.index(best) == len(val_mse) - 1 - config.patience  # no better epoch after it
    assert val_mse[-1] > best
    assert float(agent.score_split("val")["mse"]) == pytest.approx(best, rel=1e-6)


def test_keep_best_false_ends_with_the_last_weights():
    # the same overfitting run as above, without early stopping: the last epoch is not the best
    config = SupervisedConfig(hidden=[256, 256], learning_rate=1e-2, epochs=20, patience=0, batch_size=16,
                              keep_best=False)  # fmt: skip
    agent = Supervised("gymlab/Diabetes-v0", config, seed=0, device="cpu")
    val_mse: list[float] = []
    agent.learn(callback=lambda a, m: val_mse.append(m["eval/mse"]))
    assert min(val_mse) < val_mse[-1]
    assert float(agent.score_split("val")["mse"]) == pytest.approx(val_mse[-1], rel=1e-6)  # the last weights
    best = dict(agent.best_model.named_parameters())
    assert any(not torch.equal(p, best[name]) for name, p in agent.model.named_parameters())


# ----------------------------------------------------------------------------- RL learners on the same env
def test_any_learner_is_evaluated_on_the_whole_test_split():
    agent = PPO("gymlab/Digits-v0", PPOConfig(n_envs=2, n_steps=8, batch_size=16), device="cpu")
    seen: list[float] = []
    stats = agent.evaluate(episodes=10, seed=0, on_episode=lambda r, n: seen.append(r))
    assert len(seen) == N_TEST_DIGITS  # every test image once, whatever `episodes` says
    assert stats["accuracy"] == pytest.approx(stats["mean_reward"])  # label reward = correctness
    env, n = agent.make_eval_env()
    assert env.unwrapped.split == "test" and n == N_TEST_DIGITS
    env.close()
    control, n = PPO("CartPole-v1", PPOConfig(n_envs=2, n_steps=8, batch_size=16), device="cpu").make_eval_env()
    assert n is None and not isinstance(control.unwrapped, envs.SingleStepEnv)
    control.close()


def test_bad_actions_surface_as_one_line_value_errors():
    agent = small_digits()  # acts with labels
    with pytest.raises(ValueError, match=r"must have shape \(10,\), got \(\)") as error:
        agent.evaluate(episodes=1, env=gym.make("gymlab/Digits-v0", mode="prediction"))
    assert "\n" not in str(error.value)


# ----------------------------------------------------------------------------- CLI
def test_cli_train_eval_resume(tmp_path, capsys):
    run_dir = tmp_path / "run"
    args = ["train", "supervised", "gymlab/Digits-v0", "--steps", "6400", "--run-dir", str(run_dir)]
    assert main([*args, "--set", "net=mlp", "--set", "hidden=128", "--device", "cpu", "--quiet"]) == 0
    val_line = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("val/accuracy:"))
    assert 0.8 < float(val_line.split()[1]) <= 1.0  # the summary names the validation metric
    assert runs.latest_checkpoint(run_dir).exists()
    assert list(run_dir.glob("events.out.tfevents.*"))
    config = runs.read_config(run_dir)
    assert config["hyperparameters"]["total_steps"] == 6400 and config["hyperparameters"]["net"] == "mlp"
    capsys.readouterr()
    assert main(["eval", str(run_dir)]) == 0
    out = capsys.readouterr().out
    accuracy = float(next(line for line in out.splitlines() if line.startswith("accuracy:")).split()[1])
    assert accuracy > 0.8
    assert "split: test (269 examples); reward: 1 for the right label (mode=label)" in out
    mean_reward = float(next(line for line in out.splitlines() if line.startswith("mean_reward:")).split()[1])
    assert mean_reward == pytest.approx(accuracy, abs=0.005)  # label mode: the reward is 1 for a right label
    assert main(["train", "--resume", str(run_dir), "--steps", "7680", "--quiet"]) == 0
    _, agent = runs.load_run(run_dir, "cpu")
    assert agent.num_timesteps >= 7680


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["gymlab/Digitz-v0"], "unknown environment id 'gymlab/Digitz-v0'; did you mean gymlab/Digits-v0"),
        (["gymlab/Digits-v0", "--set", "batch_size=100000"], "batch_size 100000 is larger than the 1258-example"),
        (
            ["gymlab/Digits-v0", "--set", "net=rnn"],
            "net must be one of auto, mlp, cnn, attention, autoencoder, separable_cnn, transformer",
        ),
        (["gymlab/Digits-v0", "--set", "net=transformer"], "net=transformer needs a sequence-to-sequence task"),
        (["gymlab/Diabetes-v0", "--set", "net=cnn"], "net=cnn needs image observations"),
        (["gymlab/Digits-v0", "--n-envs", "32"], "set the examples per step with --set batch_size=32"),
        (["CartPole-v1"], "supervised trains single-step supervised envs"),
        (
            ["gymlab/Digits-v0", "--set", "members=2", "--set", "label_smoothing=0.1"],
            "members (bagging) trains on the task's",
        ),
        (
            ["gymlab/Digits-v0", "--set", "beam_size=3"],
            "beam_size searches a decoder's outputs; it needs net=transformer",
        ),
        (["gymlab/Topics-v0", "--set", "adv_train=fgsm"], "adv_train and adv_select perturb continuous inputs"),
        (
            ["gymlab/Reverse-v0", "--set", "net=transformer", "--set", "members=2"],
            "members bags networks trained on whole",
        ),
        (
            ["gymlab/DigitsReconstruction-v0", "--set", "net=autoencoder", "--set", "dropout=0.5"],
            "net=autoencoder has its own",
        ),
    ],
)
def test_cli_bad_input_exits_2_with_one_line(tmp_path, capsys, args, message):
    run_dir = tmp_path / "run"
    assert main(["train", "supervised", *args, "--run-dir", str(run_dir), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert not run_dir.exists()


@pytest.mark.parametrize(
    ("env_kwargs", "message"),
    [({"split": "tset"}, "unknown split 'tset'"), ({"task": "digitz"}, "unknown task 'digitz'")],
)
def test_cli_eval_of_a_run_with_a_bad_task_or_split_exits_2(tmp_path, capsys, env_kwargs, message):
    run_dir = tmp_path / "run"
    assert main(["train", "supervised", "gymlab/Digits-v0", "--steps", "64", "--set", "net=mlp",
                 "--run-dir", str(run_dir), "--device", "cpu", "--quiet"]) == 0  # fmt: skip
    config = runs.read_config(run_dir)
    runs.write_json(run_dir / runs.CONFIG, {**config, "env_kwargs": env_kwargs})
    capsys.readouterr()
    assert main(["eval", str(run_dir)]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


# ----------------------------------------------------------------------------- accuracy targets (slow)
def preset_accuracy(agent: str, env_id: str, seed: int = 0, sets: tuple[str, ...] = ()) -> dict:
    learner = build_new(agent, env_id, seed=seed, device="cpu", sets=list(sets))
    learner.learn()
    return learner.evaluate(seed=0)


@pytest.mark.slow
def test_cnn_reaches_98_5_percent_on_digits():
    assert preset_accuracy("supervised", "gymlab/Digits-v0", sets=("net=cnn",))["accuracy"] >= 0.985


@pytest.mark.slow
def test_mlp_reaches_97_5_percent_on_digits():
    assert preset_accuracy("supervised", "gymlab/Digits-v0", sets=("net=mlp",))["accuracy"] >= 0.975


@pytest.mark.slow
def test_diabetes_is_no_worse_than_least_squares():
    from sklearn.linear_model import LinearRegression

    train, test = load_task("diabetes", "train"), load_task("diabetes", "test")
    linear_mse = float(((LinearRegression().fit(train.x, train.y).predict(test.x) - test.y) ** 2).mean())
    mse = [preset_accuracy("supervised", "gymlab/Diabetes-v0", seed=s)["mse"] for s in range(3)]
    assert np.mean(mse) <= linear_mse


@pytest.mark.slow
def test_attention_labels_sequences_a_per_token_mlp_cannot():
    attention = preset_accuracy("supervised", "gymlab/Sequence-v0", sets=("net=attention",))["accuracy"]
    token_mlp = preset_accuracy("supervised", "gymlab/Sequence-v0", sets=("net=mlp",))["accuracy"]
    assert attention >= 0.95 and token_mlp < 0.4  # majority class ~29%; the label needs other tokens


@pytest.mark.slow
@pytest.mark.parametrize("agent", ["ppo", "reinforce"])
def test_rl_learns_digits_from_the_label_reward_alone(agent):
    """A contextual bandit: no gradient through the reward, only 0/1 correctness."""
    assert preset_accuracy(agent, "gymlab/Digits-v0")["accuracy"] >= 0.95


@pytest.mark.parametrize(
    ("env_id", "env_kwargs", "metric", "shape"),
    [
        ("gymlab/DigitsReconstruction-v0", {}, "mse", (1, 8, 8)),
        ("gymlab/Sort-v0", {}, "accuracy", (8, 8)),
        ("gymlab/Digits-v0", {"family": "split", "task_id": 4}, "accuracy", (10,)),
    ],
)
def test_every_kind_and_a_family_task_train_and_report_their_metric(env_id, env_kwargs, metric, shape):
    agent = Supervised(env_id, total_steps=640, net="mlp", hidden=[32], env_kwargs=env_kwargs)
    agent.learn()
    x = torch.tensor(agent.train_set.x[:3])
    assert agent.model(x).shape == (3, *shape)  # the kind's prediction shape
    stats = agent.evaluate()
    assert set(stats) >= {"mean_reward", "loss", metric}
    if env_kwargs:  # split digits, task 4: only 8s and 9s are served, so chance is 0.5 and not 0.1
        assert set(np.unique(agent.train_set.y)) == {8, 9} and stats["accuracy"] > 0.5


def test_evaluation_and_summary_report_sklearns_classification_metrics():
    from sklearn import metrics as sk

    agent = Supervised("gymlab/BreastCancer-v0", seed=0, device="cpu", epochs=3, patience=0)
    agent.learn()
    stats, summary = agent.evaluate(), agent.summary({})
    test = load_task("breast-cancer", "test")
    with torch.no_grad():
        logits = agent.model(torch.tensor(test.x)).double()  # (N, 2)
    predicted, probability = logits.argmax(1).numpy(), torch.softmax(logits, 1)[:, 1].numpy()
    assert abs(stats["f1"] - sk.f1_score(test.y, predicted)) < 1e-9
    assert abs(stats["f1_macro"] - sk.f1_score(test.y, predicted, average="macro")) < 1e-9
    assert abs(stats["precision"] - sk.precision_score(test.y, predicted)) < 1e-9
    assert abs(stats["recall_macro"] - sk.recall_score(test.y, predicted, average="macro")) < 1e-9
    assert abs(stats["roc_auc"] - sk.roc_auc_score(test.y, probability)) < 1e-6  # float32 logits: near ties
    assert stats["roc_auc"] > 0.95  # standardised breast cancer is nearly linearly separable
    assert set(summary) == {"val/accuracy", "val/f1_macro", "val/roc_auc"}
    assert "f1_macro" not in Supervised("gymlab/Diabetes-v0", device="cpu", epochs=1).evaluate()  # regression: none


def test_adversarial_training_trains_on_the_attacked_batch_of_the_true_labels(monkeypatch):
    import agents.supervised as supervised_module
    from supervised import attacks

    seen = []
    real_fgsm = attacks.fgsm

    def spy(model, obs, eps, target, **kwargs):
        seen.append((obs.clone(), target.clone(), eps, kwargs["bounds"]))
        return real_fgsm(model, obs, eps, target, **kwargs)

    monkeypatch.setattr(supervised_module.attacks, "fgsm", spy)
    agent = Supervised("gymlab/Digits-v0", net="mlp", hidden=[16], adv_train="fgsm", adv_eps=0.25, batch_size=32)
    agent.learn(64)
    assert len(seen) == 2 and seen[0][2] == 0.25 and seen[0][3] == (0.0, 1.0)
    # the labels attacked are the ones the env scores next: its dataset's rows for that batch
    obs, target, _, _ = seen[0]
    rows = [int(np.flatnonzero((agent.train_set.x.reshape(len(agent.train_set), -1) == o.numpy().ravel()).all(1))[0])
            for o in obs[:4]]  # fmt: skip
    assert target[:4].tolist() == agent.train_set.y[rows].tolist()


def test_pending_targets_are_what_the_next_step_scores():
    env = envs.SingleStepVectorEnv("digits", 8, "train", "prediction")
    env.reset(seed=0)
    pending = env.pending_targets().clone()
    _, _, _, _, info = env.step(torch.zeros(8, 10))
    assert torch.equal(pending, info["target"])


@pytest.mark.parametrize(
    "settings, message",
    [({"adv_train": "cw"}, "adv_train"), ({"adv_eps": -0.1}, "adv_eps must be >= 0"), ({"adv_steps": 0}, "adv_steps")],
)
def test_adversarial_training_settings_are_checked(settings, message):
    with pytest.raises(ValueError, match=message):
        SupervisedConfig(**settings).check()


def test_robust_score_at_eps_zero_is_the_clean_validation_score():
    from agents.supervised import robust_score
    from envs.single_step import fixed_dataset

    agent = Supervised("gymlab/Digits-v0", net="mlp", hidden=[16], epochs=1).learn()
    clean = agent.score_split("val")
    val = fixed_dataset("digits", "val")
    robust = robust_score(agent.model, val, SupervisedConfig(adv_eps=0.0), torch.Generator().manual_seed(0))
    assert float(robust["accuracy"]) == pytest.approx(float(clean["accuracy"]))
    assert float(robust["loss"]) == pytest.approx(float(clean["loss"]), rel=1e-5)
    attacked = robust_score(agent.model, val, SupervisedConfig(adv_eps=0.3), torch.Generator().manual_seed(0))
    assert float(attacked["accuracy"]) < float(clean["accuracy"]) - 0.2


def test_adv_select_keeps_the_weights_of_the_best_robust_validation_score(monkeypatch):
    import agents.supervised as supervised_module
    from envs.single_step import fixed_dataset

    scores = []
    real_robust_score = supervised_module.robust_score

    def spy(*args):
        result = real_robust_score(*args)
        scores.append((-float(result["accuracy"]), float(result["loss"])))
        return result

    monkeypatch.setattr(supervised_module, "robust_score", spy)
    agent = Supervised("gymlab/Digits-v0", net="mlp", hidden=[32], epochs=4, patience=0, adv_select=True,
                       adv_train="fgsm", adv_eps=0.2, adv_steps=2, learning_rate=3e-2)  # fmt: skip
    agent.learn()
    assert len(scores) == 4 and agent.best_score == list(min(scores))
    kept = real_robust_score(
        agent.model, fixed_dataset("digits", "val"), agent.config, torch.Generator().manual_seed(0)
    )
    assert (-float(kept["accuracy"]), float(kept["loss"])) == pytest.approx(min(scores))
