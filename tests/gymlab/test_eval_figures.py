"""``gymlab eval`` on learners that play no episodes: a task sequence (lifelong), a task
distribution (maml) and two domains (dann) print what they measure, each split named."""

from __future__ import annotations

import json

import numpy as np
import pytest

from gymlab.cli import main


def train_and_eval(tmp_path, capsys, *train_args: str) -> tuple[str, dict]:
    """Train a run, then ``gymlab eval RUN --json``: (printed lines, the JSON figures)."""
    run = tmp_path / "run"
    assert main(["train", *train_args, "--run-dir", str(run), "--quiet"]) == 0
    capsys.readouterr()
    assert main(["eval", str(run), "--json"]) == 0
    out = capsys.readouterr().out
    assert "episodes" not in out  # no "mean_reward ... over 0 episodes"
    lines = out.splitlines()
    return "\n".join(lines[:-1]), json.loads(lines[-1])


def figure(out: str, label: str) -> float:
    """The first number after ``label`` on its line."""
    line = next(line for line in out.splitlines() if line.startswith(label))
    return float(line[len(label) :].split()[0])


def test_lifelong_eval_prints_the_final_row_average_and_backward_transfer(tmp_path, capsys):
    out, stats = train_and_eval(
        tmp_path, capsys, "lifelong", "gymlab/Digits-v0", "--env-kwargs", "family=split", "n_tasks=2",
        "switch_every=2520", "--set", "hidden=[32]", "--set", "learning_rate=3e-3",
    )  # fmt: skip
    matrix = np.array(json.loads((tmp_path / "run" / "lifelong.json").read_text())["matrix"])
    assert "test split of each of the 2 tasks" in out
    final = [stats["accuracy_task0"], stats["accuracy_task1"]]
    np.testing.assert_allclose(final, matrix[1], atol=1e-9)  # the same weights on the same test splits
    assert stats["average_accuracy"] == pytest.approx(matrix[1].mean())
    assert stats["backward_transfer"] == pytest.approx(matrix[1, 0] - matrix[0, 0])
    assert figure(out, "average:") == pytest.approx(stats["average_accuracy"], abs=1e-4)
    assert figure(out, "backward:") == pytest.approx(stats["backward_transfer"], abs=1e-4)
    assert f"R[1, :] = {final[0]:.4f} {final[1]:.4f}" in out
    assert stats["backward_transfer"] < -0.5  # split digits, fine-tuned: classes 0-4 are forgotten


def test_maml_eval_prints_the_query_loss_after_the_inner_steps(tmp_path, capsys):
    out, stats = train_and_eval(
        tmp_path, capsys, "maml", "gymlab/Sine-v0", "--env-kwargs", "family=sine", "--steps", "5000",
        "--set", "inner_steps=2", "--set", "eval_steps=3",
    )  # fmt: skip
    assert "fresh sine tasks from the test split of sine (10 support + 10 query examples)" in out
    assert figure(out, "query loss:") == pytest.approx(stats["loss_step2"], abs=1e-4)
    assert "after 2 inner steps" in out
    assert figure(out, "curve:") == pytest.approx(stats["loss_step0"], abs=1e-4)


def test_dann_eval_prints_target_and_source_accuracy(tmp_path, capsys):
    out, stats = train_and_eval(
        tmp_path, capsys, "dann", "gymlab/Moons-v0", "--set", "target=moons-rotated", "--steps", "3000",
    )  # fmt: skip
    assert "test split of each domain (target moons-rotated: 150 examples; source moons: 150)" in out
    assert figure(out, "target:      accuracy") == pytest.approx(stats["target_accuracy"], abs=1e-4)
    assert figure(out, "source:      accuracy") == pytest.approx(stats["source_accuracy"], abs=1e-4)
    assert stats["source_accuracy"] > 0.8
