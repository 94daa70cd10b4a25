"""Tests for the supervised learner's training settings: batch_norm, depth, dropout, l1,
label_smoothing, augment, train_fraction (each changes what runs; bad values are refused), the
per-layer gradient norms it logs, and the course's schedule and optimizer on it."""

import re

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from agents.logger import read_scalars
from agents.networks import CNN, layer_weights, mlp
from agents.supervised import (
    Supervised,
    SupervisedConfig,
    l1_penalty,
    random_shift,
    smoothed_cross_entropy,
    supervised_loss,
    train_subset,
)
from gymlab.cli import main
from supervised.datasets import load_task
from supervised.kinds import softmax_squared_error

N_TRAIN_DIGITS = len(load_task("digits", "train"))


def digits(**overrides) -> Supervised:
    config = SupervisedConfig(**{"net": "mlp", "hidden": [32], "epochs": 1, **overrides})
    return Supervised("gymlab/Digits-v0", config, seed=0, device="cpu")


# ----------------------------------------------------------------------------- networks
def test_batch_norm_and_depth_shape_the_mlp():
    agent = digits(batch_norm=True, depth=3, hidden=[16, 99])
    linears = [m for m in agent.model.modules() if isinstance(m, nn.Linear)]
    norms = [m for m in agent.model.modules() if isinstance(m, nn.BatchNorm1d)]
    assert [m.out_features for m in linears] == [16, 16, 16, 10]  # depth layers of hidden[0], then the head
    assert [m.num_features for m in norms] == [16, 16, 16]  # one after each hidden Linear
    body = list(agent.model.body)
    assert [type(m) for m in body[:3]] == [nn.Linear, nn.BatchNorm1d, nn.ReLU]  # normalised before the activation
    assert not any(isinstance(m, nn.BatchNorm1d) for m in digits().model.modules())


def test_cnn_gets_batch_norm_2d_and_dropout():
    cnn = CNN((1, 8, 8), features=32, batch_norm=True, dropout=0.25)
    assert sum(isinstance(m, nn.BatchNorm2d) for m in cnn.modules()) == 2
    assert sum(isinstance(m, nn.BatchNorm1d) for m in cnn.modules()) == 1
    assert all(m.p == 0.25 for m in cnn.modules() if isinstance(m, nn.Dropout))
    assert sum(isinstance(m, nn.Dropout) for m in cnn.modules()) == 3
    plain = CNN((1, 8, 8), features=32)
    assert [type(m) for m in plain.convs] == [nn.Conv2d, nn.ReLU, nn.Conv2d, nn.ReLU, nn.MaxPool2d, nn.Flatten]
    agent = Supervised("gymlab/Digits-v0", SupervisedConfig(net="cnn", hidden=[32], batch_norm=True), device="cpu")
    assert any(isinstance(m, nn.BatchNorm2d) for m in agent.model.modules())


def test_building_a_cnn_leaves_its_batch_norm_statistics_untouched():
    cnn = CNN((1, 8, 8), features=32, batch_norm=True)
    norm = next(m for m in cnn.modules() if isinstance(m, nn.BatchNorm2d))
    assert int(norm.num_batches_tracked) == 0 and cnn.training


def test_dropout_is_active_in_training_and_off_in_eval():
    torch.manual_seed(0)
    net = mlp([64, 256, 10], "relu", dropout=0.5)
    assert [type(m) for m in net] == [nn.Linear, nn.ReLU, nn.Dropout, nn.Linear]
    x = torch.rand(8, 64)
    assert not torch.equal(net.train()(x), net(x))  # a new mask each pass
    net.eval()
    torch.testing.assert_close(net(x), net(x))
    agent = digits(dropout=0.5)
    obs = torch.tensor(load_task("digits", "test").x[:16])
    assert not agent.model.training  # eval mode outside gradient steps
    torch.testing.assert_close(agent.act(obs, True), agent.act(obs, True))


def test_training_steps_run_in_train_mode_and_scoring_in_eval_mode():
    agent = digits(dropout=0.5, batch_norm=True)
    modes: list[bool] = []
    agent.model.register_forward_hook(lambda module, inputs, output: modes.append(module.training))
    agent.learn()
    steps = -(-N_TRAIN_DIGITS // 64)
    assert modes[:steps] == [True] * steps  # the gradient steps of the one epoch
    assert not any(modes[steps:]) and len(modes) > steps  # the validation pass
    assert not agent.model.training


def test_batch_norm_eval_does_not_depend_on_the_batch_size():
    agent = digits(batch_norm=True, epochs=2)
    agent.learn()
    x = load_task("digits", "test").x[:64]
    one_at_a_time = np.concatenate([agent.predict(x[i : i + 1], deterministic=True) for i in range(len(x))])
    np.testing.assert_array_equal(one_at_a_time, agent.predict(x, deterministic=True))
    norm = next(m for m in agent.model.modules() if isinstance(m, nn.BatchNorm1d))
    assert int(norm.num_batches_tracked) == 2 * -(-N_TRAIN_DIGITS // 64)  # updated by gradient steps only


# ----------------------------------------------------------------------------- losses
def test_l1_adds_l1_times_sign_w_to_every_weight_gradient():
    agent = digits(l1=0.01)
    x = torch.tensor(load_task("digits", "train").x[:32])
    prediction = agent.model(x)
    reward = -prediction.square().mean(dim=1)  # any differentiable reward
    gradients = {}
    for l1 in (0.0, 0.01):
        config = SupervisedConfig(net="mlp", hidden=[32], l1=l1)
        grads = torch.autograd.grad(
            supervised_loss(prediction, reward, agent.weights, config), agent.weights, retain_graph=True
        )
        gradients[l1] = grads
    for w, plain, with_l1 in zip(agent.weights, gradients[0.0], gradients[0.01]):
        torch.testing.assert_close(with_l1 - plain, 0.01 * torch.sign(w))
    w = torch.tensor([[-2.0, 0.5], [0.0, 3.0]])
    assert float(l1_penalty([w, torch.ones(3)])) == 5.5 + 3.0
    assert agent.weights == layer_weights(agent.model) and len(agent.weights) == 2  # biases are not penalised


def test_label_smoothing_matches_torch_and_a_hand_computed_value():
    torch.manual_seed(0)
    logits, target = torch.randn(5, 10), torch.randint(0, 10, (5,))
    cross_entropy = F.cross_entropy(logits, target, reduction="none")
    torch.testing.assert_close(
        smoothed_cross_entropy(logits, cross_entropy, 0.2),
        F.cross_entropy(logits, target, reduction="none", label_smoothing=0.2),
    )
    # logits (0, log 3): p = (1/4, 3/4); target 0: CE = log 4; smoothed (s = 0.5): 0.5 log 4 + 0.5 (log 4 + log 4/3) / 2
    logits = torch.tensor([[0.0, np.log(3.0)]])
    expected = 0.5 * np.log(4) + 0.25 * (np.log(4) + np.log(4 / 3))
    value = smoothed_cross_entropy(logits, torch.tensor([np.log(4.0)]), 0.5)
    assert float(value) == pytest.approx(expected, rel=1e-6)


def test_label_smoothing_changes_the_training_loss():
    x = torch.tensor(load_task("digits", "train").x[:32])
    agent = digits()
    prediction = agent.model(x)
    reward = -F.cross_entropy(prediction, torch.tensor(load_task("digits", "train").y[:32]), reduction="none")
    plain = supervised_loss(prediction, reward, agent.weights, agent.config)
    smoothed = supervised_loss(prediction, reward, agent.weights, SupervisedConfig(label_smoothing=0.3))
    assert plain.item() == pytest.approx(-reward.mean().item())
    assert smoothed.item() != pytest.approx(plain.item())


def test_softmax_mse_is_the_slides_squared_error_and_replaces_the_training_loss():
    # logits (0, log 3): p = (1/4, 3/4); target 0: (1/4 - 1)^2 + (3/4)^2 = 9/16 + 9/16
    logits = torch.tensor([[0.0, np.log(3.0)]])
    assert float(softmax_squared_error(logits, torch.tensor([0]))) == pytest.approx(9 / 8, rel=1e-6)
    x = torch.tensor(load_task("digits", "train").x[:32])
    y = torch.tensor(load_task("digits", "train").y[:32])
    agent = digits()
    prediction = agent.model(x)
    reward = -F.cross_entropy(prediction, y, reduction="none")
    mse = supervised_loss(prediction, reward, agent.weights, SupervisedConfig(loss="softmax_mse"), y)
    expected = (F.softmax(prediction, dim=-1) - F.one_hot(y, 10)).square().sum(dim=-1).mean()
    torch.testing.assert_close(mse, expected)


def test_softmax_mse_is_refused_where_it_does_not_apply():
    with pytest.raises(ValueError, match="loss must be one of"):
        SupervisedConfig(loss="hinge").check()
    with pytest.raises(ValueError, match="set members=1 and label_smoothing=0"):
        SupervisedConfig(loss="softmax_mse", label_smoothing=0.1).check()
    with pytest.raises(ValueError, match="loss=softmax_mse compares class probabilities"):
        Supervised("gymlab/Diabetes-v0", seed=0, device="cpu", loss="softmax_mse")


# ----------------------------------------------------------------------------- data
def test_random_shift_moves_each_image_by_at_most_one_pixel():
    images = torch.arange(1, 1 + 40 * 2 * 5 * 6, dtype=torch.float32).reshape(40, 2, 5, 6)
    shifted = random_shift(images, generator=torch.Generator().manual_seed(0))
    padded = F.pad(images, (1, 1, 1, 1))
    seen = set()
    for i in range(len(images)):
        matches = [
            (dy, dx)
            for dy in (-1, 0, 1)
            for dx in (-1, 0, 1)
            if torch.equal(shifted[i], padded[i, :, 1 - dy : 1 - dy + 5, 1 - dx : 1 - dx + 6])
        ]
        assert len(matches) == 1  # exactly one shift explains it: content moved by (dy, dx), zeros shifted in
        seen.add(matches[0])
    assert len(seen) == 9  # every shift in [-1, 1]^2 occurs
    moved = next(i for i in range(len(images)) if not torch.equal(shifted[i], images[i]))
    assert (shifted[moved] == 0).any()  # an edge came in from outside


def test_augment_shift_feeds_shifted_images_to_the_network():
    agent = digits(augment="shift", total_steps=64)
    inputs: list[torch.Tensor] = []
    agent.model.register_forward_hook(lambda module, args, output: inputs.append(args[0]) if module.training else None)
    agent.open_envs()
    served = agent.obs.clone()  # (64, 1, 8, 8): the batch the env scores
    agent.train_iteration()
    assert len(inputs) == 1 and inputs[0].shape == served.shape
    padded = F.pad(served, (1, 1, 1, 1))
    shifts = [
        next((dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1)
             if torch.equal(inputs[0][i], padded[i, :, 1 - dy : 9 - dy, 1 - dx : 9 - dx]))
        for i in range(len(served))
    ]  # fmt: skip
    assert sum(shift != (0, 0) for shift in shifts) > 32  # 8 of 9 shifts move the image
    agent.close()


def test_train_fraction_trains_on_a_fixed_seeded_subset():
    agent = digits(train_fraction=0.1, batch_size=32)
    n = round(0.1 * N_TRAIN_DIGITS)
    assert len(agent.train_set) == n and agent.config.total_steps == n  # one epoch = the subset
    np.testing.assert_array_equal(agent.train_rows, train_subset(N_TRAIN_DIGITS, 0.1, 0))
    np.testing.assert_array_equal(digits(train_fraction=0.1, batch_size=32).train_rows, agent.train_rows)
    assert not np.array_equal(train_subset(N_TRAIN_DIGITS, 0.1, 1), agent.train_rows)
    served: set[int] = set()
    agent.open_envs()
    for _ in range(20):
        agent.envs.step(agent.model(agent.obs))
        served |= set(agent.envs._batch[0].tolist())
    assert served == set(range(n))  # rows of the subset only
    assert agent.evaluate(split="train")["accuracy"] >= 0  # scored on the subset trained on
    assert len(agent.score_split("train")["reward"]) == n
    assert len(agent.score_split("val")["reward"]) == len(load_task("digits", "val"))


# ----------------------------------------------------------------------------- gradient norms
def test_gradient_norms_per_layer_are_logged_and_vanish_in_a_deep_sigmoid_mlp(tmp_path):
    agent = digits(hidden=[32], depth=6, activation="sigmoid", optimizer="sgd", learning_rate=0.1, log_interval=1)
    logged: list[dict] = []
    agent.learn(callback=lambda a, m: logged.append(m))
    norms = [logged[0][f"grad_norm/layer{i}"] for i in range(7)]
    assert f"grad_norm/layer{7}" not in logged[0]
    assert norms[0] < 1e-3 * norms[-1]  # vanishing toward the input
    run = digits(log_interval=1)
    run.learn(run_dir=tmp_path / "run")
    tags = read_scalars(tmp_path / "run", "grad_norm/")
    assert set(tags) == {"grad_norm/layer0", "grad_norm/layer1"}
    steps, values = tags["grad_norm/layer0"]
    assert steps == [run.num_timesteps] and values[0] > 0


# ----------------------------------------------------------------------------- schedule and optimizer
def test_inv_sqrt_schedule_and_radam_run_on_the_supervised_learner():
    agent = digits(lr_schedule="inv_sqrt", optimizer="radam", epochs=2, learning_rate=0.01)
    assert isinstance(agent.optimizer, torch.optim.RAdam)
    logged: list[dict] = []
    agent.learn(callback=lambda a, m: logged.append(m))
    rates = [m["train/learning_rate"] for m in logged]
    assert rates[0] < 0.01 and rates[1] < rates[0]  # 0.01 / sqrt(1000 p + 1), p = progress
    assert rates[1] == pytest.approx(0.01 / np.sqrt(1000 * (agent.num_timesteps - 64) / agent.config.total_steps + 1))


# ----------------------------------------------------------------------------- bad values
@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"depth": -1}, "depth and l1 must be >= 0"),
        ({"l1": -0.1}, "depth and l1 must be >= 0"),
        ({"depth": 3, "hidden": []}, "depth repeats hidden[0], but hidden is empty"),
        ({"dropout": 1.0}, "dropout must be in [0, 1)"),
        ({"label_smoothing": -0.1}, "label_smoothing must be in [0, 1)"),
        ({"augment": "flip"}, "augment must be one of none, shift"),
        ({"train_fraction": 0.0}, "train_fraction must be in (0, 1]"),
        ({"train_fraction": 1.5}, "train_fraction must be in (0, 1]"),
    ],
)
def test_config_check_refuses_bad_values(settings, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        SupervisedConfig(**settings).check()


@pytest.mark.parametrize(
    ("env_id", "settings", "message"),
    [
        ("gymlab/Diabetes-v0", {"label_smoothing": 0.1}, "label_smoothing applies to classification tasks"),
        ("gymlab/Diabetes-v0", {"augment": "shift"}, "augment=shift moves images"),
        ("gymlab/Sequence-v0", {"batch_norm": True}, "batch_norm normalises an MLP's or a CNN's features"),
        ("gymlab/Digits-v0", {"train_fraction": 0.01, "batch_size": 64}, "larger than the 13-example train set"),
    ],
)
def test_settings_that_do_not_fit_the_task_are_refused(env_id, settings, message):
    with pytest.raises(ValueError, match=message):
        Supervised(env_id, SupervisedConfig(**settings), device="cpu")


def test_cli_refuses_a_bad_setting_with_one_line(tmp_path, capsys):
    run_dir = tmp_path / "run"
    args = ["train", "supervised", "gymlab/Diabetes-v0", "--set", "augment=shift", "--run-dir", str(run_dir)]
    assert main([*args, "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "augment=shift moves images" in err and err.count("\n") == 1
    assert main(["train", "supervised", "gymlab/Digits-v0", "--set", "dropout=2", "--quiet"]) == 2
    assert "dropout must be in [0, 1)" in capsys.readouterr().err
