"""Distillation: the loss's known values, a digits student and a CartPole student, bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import gymlab
from agents import Supervised
from agents.distillation import Distill, distillation_loss
from gymlab.cli import main


def test_distillation_loss_known_values():
    teacher = torch.tensor([[2.0, 0.0, -1.0], [0.5, 0.5, 0.0]])
    student = torch.tensor([[0.0, 1.0, 0.0], [1.0, -1.0, 0.0]])
    target = torch.tensor([0, 2])
    # the same logits: no soft loss
    assert distillation_loss(teacher, teacher, target, 3.0, alpha=1.0).abs().max() < 1e-6
    # alpha = 1: T^2 * KL(softmax(teacher / T) || softmax(student / T)), torch's kl_div as the reference
    t = 2.0
    reference = F.kl_div(
        F.log_softmax(student / t, -1), F.log_softmax(teacher / t, -1), reduction="none", log_target=True
    )
    expected = t**2 * reference.sum(-1)
    torch.testing.assert_close(distillation_loss(student, teacher, target, t, alpha=1.0), expected)
    # alpha = 0: cross-entropy with the hard labels, only where labelled
    ce = F.cross_entropy(student, target, reduction="none")
    torch.testing.assert_close(distillation_loss(student, teacher, target, t, alpha=0.0), ce)
    labelled = torch.tensor([True, False])
    torch.testing.assert_close(distillation_loss(student, teacher, target, t, 0.0, labelled), ce * labelled)
    mixed = distillation_loss(student, teacher, target, t, 0.25)
    torch.testing.assert_close(mixed, 0.25 * expected + 0.75 * ce)


def test_the_gradient_reaches_the_student_only():
    teacher = torch.randn(4, 3, requires_grad=True)
    student = torch.randn(4, 3, requires_grad=True)
    distillation_loss(student, teacher, torch.tensor([0, 1, 2, 0]), 4.0, 0.5).sum().backward()
    assert teacher.grad is None and student.grad.abs().sum() > 0


@pytest.fixture(scope="module")
def digits_teacher(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("runs") / "teacher"
    Supervised("gymlab/Digits-v0", seed=0, net="mlp", hidden=[64], epochs=6, device="cpu").learn(run_dir=run_dir)
    return run_dir


def test_a_digits_student_learns_from_the_teachers_soft_labels(digits_teacher, tmp_path):
    settings = dict(teacher=str(digits_teacher), net="mlp", hidden=[12], labels=60, epochs=15, device="cpu")
    alone = Distill("gymlab/Digits-v0", seed=0, alpha=0.0, **settings).learn(run_dir=tmp_path / "alone")
    taught = Distill("gymlab/Digits-v0", seed=0, alpha=0.9, **settings).learn(run_dir=tmp_path / "taught")
    assert sum(p.numel() for p in taught.model.parameters()) == 910
    assert taught.evaluate()["accuracy"] > alone.evaluate()["accuracy"] + 0.1
    loaded = gymlab.load(tmp_path / "taught")
    obs = np.asarray(gymlab.dataset("gymlab/Digits-v0", "test")[0][:50])
    np.testing.assert_array_equal(loaded.predict(obs), taught.predict(obs))


def soft_gap(student: Distill) -> float:
    """Mean KL(teacher || student) at temperature 1 over the student's training states."""
    x = torch.as_tensor(np.array(student.learner.train_set.x))
    with torch.no_grad():
        teacher, logits = student.teacher.model(x), student.model(x)
    return float(distillation_loss(logits, teacher, torch.zeros(len(x)), 1.0).mean())


def test_a_small_policy_learns_a_cartpole_teachers_action_distribution(tiny_run, tmp_path, capsys):
    student = Distill("CartPole-v1", seed=0, teacher=str(tiny_run), teacher_steps=800, hidden=[8], epochs=20,
                      net="mlp", device="cpu")  # fmt: skip
    assert len(student.learner.train_set) == round(0.7 * 800)  # the teacher's states, split 70/15/15
    before = soft_gap(student)
    student.learn(run_dir=tmp_path / "student")
    assert soft_gap(student) < 0.5 * before
    teacher = gymlab.load(tiny_run)
    assert sum(p.numel() for p in student.model.parameters()) < sum(p.numel() for p in teacher.model.parameters())
    assert main(["eval", str(tmp_path / "student"), "--episodes", "2"]) == 0
    assert "mean_reward:" in capsys.readouterr().out
    sets = ["teacher=" + str(tiny_run), "teacher_steps=200", "hidden=8", "epochs=2"]
    args = ["train", "distill", "CartPole-v1", "--run-dir", str(tmp_path / "cli"), "--quiet"]
    assert main([*args, *(w for s in sets for w in ("--set", s))]) == 0
    assert "agreement:" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("env_id", "sets", "message"),
    [
        ("gymlab/Digits-v0", [], "distill needs a teacher: --set teacher=RUN_DIR"),
        ("gymlab/Digits-v0", ["teacher=nowhere"], "nowhere is not a gymlab run"),
        ("gymlab/Digits-v0", ["teacher=TEACHER", "alpha=2"], "alpha must be in [0, 1]"),
        ("gymlab/Digits-v0", ["teacher=TEACHER", "temperature=0"], "temperature must be > 0"),
        ("gymlab/Diabetes-v0", ["teacher=TEACHER"], "distill learns a softmax over classes or Discrete actions"),
    ],
)
def test_bad_input_exits_2_with_one_line(digits_teacher, tmp_path, capsys, env_id, sets, message):
    sets = [s.replace("TEACHER", str(digits_teacher)) for s in sets]
    args = ["train", "distill", env_id, "--run-dir", str(tmp_path / "run"), "--quiet"]
    assert main([*args, *(w for s in sets for w in ("--set", s))]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
