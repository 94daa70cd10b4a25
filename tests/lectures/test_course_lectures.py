"""Known answers for the pieces the course's lectures add (regression, classification, cnn,
self-attention, gan, policy-gradient, imitation); their claims run in test_lectures.py (slow)."""

from __future__ import annotations

import numpy as np
import pytest

from agents.supervised import Supervised, SupervisedConfig, build_predictor
from lectures import discover
from lectures.cnn import mlp_parameters, mlp_width_matching
from lectures.policy_gradient import TIERS, tiers_reached
from lectures.regression import piecewise_arm
from lectures.self_attention import majority_accuracy
from lectures.supervised_runs import parameter_count, run_curve, split_scores, train_run
from supervised.datasets import load_task

COURSE = ("regression", "classification", "cnn", "self-attention", "gan", "policy-gradient", "imitation")


def test_the_course_lectures_are_registered_with_their_arms():
    lectures = discover()
    for name in COURSE:
        assert name in lectures and len(lectures[name].arms) >= 2


def test_mlp_parameters_counts_what_the_learner_builds():
    digits = load_task("digits", "train")
    for width in (1, 16, 256):
        model = build_predictor("mlp", digits, SupervisedConfig(hidden=[width, width]))
        assert sum(p.numel() for p in model.parameters()) == mlp_parameters(width)
    assert mlp_parameters(256) == 64 * 256 + 256 + 256 * 256 + 256 + 256 * 10 + 10


def test_mlp_width_matching_the_digits_cnn():
    cnn = build_predictor("cnn", load_task("digits", "train"), SupervisedConfig(hidden=[64]))
    cnn_parameters = sum(p.numel() for p in cnn.parameters())
    assert cnn_parameters == 320 + 18_496 + 65_600 + 650  # two convolutions, the dense layer, the output
    width = mlp_width_matching(cnn_parameters)
    assert width == 256  # 85,002 against 85,066
    assert abs(mlp_parameters(width) - cnn_parameters) <= abs(mlp_parameters(width + 1) - cnn_parameters)
    assert abs(mlp_parameters(width) - cnn_parameters) <= abs(mlp_parameters(width - 1) - cnn_parameters)


def test_tiers_reached():
    assert TIERS == (0.0, 100.0, 200.0, 241.0)
    assert [tiers_reached(r) for r in (-180.0, 0.0, 99.9, 150.0, 240.9, 241.0, 300.0)] == [0, 1, 1, 2, 3, 4, 4]


def test_majority_accuracy_of_the_sequence_task():
    train, test = load_task("sequence", "train"), load_task("sequence", "test")
    counts = np.bincount(train.y.ravel(), minlength=4)
    expected = float((test.y == counts.argmax()).mean())
    assert majority_accuracy() == pytest.approx(expected)
    assert 0.25 < majority_accuracy() < 0.32  # four nearly balanced classes, the rarest at ~13.5%


def test_piecewise_arm_names():
    assert piecewise_arm(1) == "piecewise 1 sigmoid" and piecewise_arm(30) == "piecewise 30 sigmoids"


def test_train_run_writes_a_run_and_split_scores_match_the_learner(tmp_path):
    agent = train_run("gymlab/Digits-v0", 0, tmp_path / "run", net="mlp", hidden=[8], epochs=1, patience=0)
    assert isinstance(agent, Supervised) and (tmp_path / "run" / "config.json").is_file()
    assert any((tmp_path / "run" / "checkpoints").iterdir())
    figures = split_scores(agent)
    assert set(figures) == {f"{s}_{f}" for s in ("train", "val", "test") for f in ("accuracy", "loss")}
    assert figures["test_accuracy"] == pytest.approx(agent.evaluate()["accuracy"])
    assert parameter_count(agent) == 64 * 8 + 8 + 8 * 10 + 10
    regression = train_run("gymlab/Piecewise-v0", 0, tmp_path / "reg", hidden=[2], epochs=1, patience=0)
    assert set(split_scores(regression, ("val",))) == {"val_mse"}


def test_run_curve_reads_what_the_run_logged(tmp_path):
    from torch.utils.tensorboard import SummaryWriter

    writer = SummaryWriter(str(tmp_path))
    for step, value in ((10, 0.5), (20, 0.75)):
        writer.add_scalar("eval/accuracy", value, step)
    writer.close()
    assert run_curve(tmp_path, "eval/accuracy") == ([10, 20], [0.5, 0.75])
