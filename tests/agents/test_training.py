"""Training inside a run directory (agents.training): periodic evaluation and the best model,
checkpoints around it, resuming a killed run."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import torch

from agents import runs
from agents.logger import RunLogger
from agents.training import EVAL_SEED, PeriodicEvaluation
from gymlab import train
from gymlab.cli import main
from tests.tiny import event_steps, train_tiny


def evaluations(run_dir: Path) -> list[dict[str, float]]:
    with open(run_dir / runs.EVALUATIONS, newline="") as f:
        return [{k: float(v) for k, v in row.items()} for row in csv.DictReader(f)]


def test_periodic_evaluation_leaves_training_unchanged(tmp_path):
    assert train_tiny(tmp_path / "plain", "--steps", "1024") == 0
    assert train_tiny(tmp_path / "evaluated", "--steps", "1024", "--eval-every", "256", "--eval-episodes", "2") == 0
    _, plain = runs.load_run(tmp_path / "plain")
    _, evaluated = runs.load_run(tmp_path / "evaluated")
    for (name, a), (_, b) in zip(plain.policy.state_dict().items(), evaluated.policy.state_dict().items()):
        assert torch.equal(a, b), f"{name} differs: evaluating must not change training"
    assert not (tmp_path / "plain" / runs.EVALUATIONS).exists()
    assert not (tmp_path / "plain" / runs.CHECKPOINTS / runs.BEST).exists()


def test_evaluations_are_logged_and_the_best_is_kept(tmp_path, capsys):
    run_dir = tmp_path / "run"
    assert train_tiny(run_dir, "--steps", "2048", "--eval-every", "500", "--eval-episodes", "3") == 0
    out = capsys.readouterr().out
    rows = evaluations(run_dir)
    # PPO's iterations are 256 steps (8 envs x n_steps 32): the first iteration at or past each 500
    assert [int(r["step"]) for r in rows] == [512, 1024, 1536, 2048]
    assert event_steps(run_dir, "eval/mean_reward") == [512, 1024, 1536, 2048]
    best_row = max(rows, key=lambda r: r["mean_reward"])
    best = runs.best_evaluation(run_dir)
    assert best["step"] == best_row["step"]  # the first evaluation reaching the highest figure
    assert float(f"{best['mean_reward']:.6g}") == best_row["mean_reward"]
    assert f"at step {int(best_row['step'])}" in out
    # `eval --best` loads those weights: the same episodes give the same figure again
    args = ["eval", str(run_dir), "--best", "--episodes", "3", "--seed", str(EVAL_SEED), "--json"]
    assert main(args) == 0
    figures = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert figures["num_timesteps"] == best_row["step"]
    assert abs(figures["mean_reward"] - best["mean_reward"]) < 1e-9
    assert main(["eval", str(run_dir), "--episodes", "1", "--json"]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["num_timesteps"] == 2048
    # and serves as the expert of `gymlab demos --best`: the same episodes as `eval --best`
    assert main(["eval", str(run_dir), "--best", "--episodes", "2", "--json"]) == 0
    best_two = json.loads(capsys.readouterr().out.strip().splitlines()[-1])["mean_reward"]
    assert main(["demos", str(run_dir), "--best", "--episodes", "2", "--out", str(tmp_path / "d.npz")]) == 0
    assert f"expert return: {best_two:.2f}" in capsys.readouterr().out


def test_resume_trims_the_dead_runs_evaluations_and_keeps_the_best(tmp_path):
    run_dir = tmp_path / "run"
    assert train_tiny(run_dir, "--steps", "1024", "--eval-every", "512", "--eval-episodes", "2") == 0
    best_before = runs.best_evaluation(run_dir)
    # a run killed after its 1024-step checkpoint: an evaluation row past it and a row cut short
    with open(run_dir / runs.EVALUATIONS, "a") as f:
        f.write("1536,9999,0,500\n1792,12")
    assert main(["train", "--resume", str(run_dir), "--steps", "2048", "--eval-every", "1024", "--quiet"]) == 0
    rows = evaluations(run_dir)
    assert [int(r["step"]) for r in rows] == [512, 1024, 2048]
    assert 9999 not in [r["mean_reward"] for r in rows]
    assert runs.read_config(run_dir)["hyperparameters"]["eval_every"] == 1024
    best_after = runs.best_evaluation(run_dir)
    assert best_after["mean_reward"] == max(best_before["mean_reward"], rows[-1]["mean_reward"])


def test_supervised_runs_choose_on_the_val_split(tmp_path):
    run_dir = tmp_path / "digits"
    args = ["train", "supervised", "gymlab/Digits-v0", "--steps", "2560", "--run-dir", str(run_dir), "--quiet"]
    assert main([*args, "--set", "net=mlp", "--set", "hidden=64", "--device", "cpu", "--eval-every", "1"]) == 0
    rows = evaluations(run_dir)
    assert len(rows) >= 2 and all(r["mean_ep_length"] == 1.0 for r in rows)
    _, agent = runs.load_run(run_dir, "cpu")
    assert rows[-1]["mean_reward"] == float(f"{agent.evaluate(split='val')['mean_reward']:.6g}")
    assert rows[-1]["mean_reward"] != float(f"{agent.evaluate(split='test')['mean_reward']:.6g}")


def test_a_new_best_comes_with_a_checkpoint_at_its_step(tmp_path):
    """A run killed right after a new best resumes from that step, never from before it (the
    resumed run would drop the best's evaluation row but keep its weights)."""
    agent = train.build_new("ppo", "CartPole-v1", sets=["n_steps=32", "n_epochs=1", "eval_every=256"], steps=2048)
    logger = RunLogger(tmp_path)
    evaluation = PeriodicEvaluation(agent, tmp_path, logger)
    new_bests: list[int] = []

    def after_iteration(a, _metrics) -> None:
        before = runs.best_evaluation(tmp_path)
        evaluation(a)
        after = runs.best_evaluation(tmp_path)
        if after != before:
            new_bests.append(a.num_timesteps)
            latest = json.loads((tmp_path / runs.CHECKPOINTS / runs.LATEST).read_text())
            assert latest["num_timesteps"] == after["step"] == a.num_timesteps

    try:
        agent.learn(callback=after_iteration)
    finally:
        logger.close()
        agent.close()
    assert new_bests and new_bests[0] == 256  # the first evaluation is always a new best


def test_resume_repairs_a_log_the_kill_left_without_header(tmp_path):
    run_dir = tmp_path / "run"
    assert train_tiny(run_dir, "--steps", "1024", "--eval-every", "512", "--eval-episodes", "2") == 0
    rows = (run_dir / runs.EVALUATIONS).read_text().splitlines()
    (run_dir / runs.EVALUATIONS).write_text("\n".join(rows[1:]) + "\n")  # killed before the header was flushed
    assert main(["train", "--resume", str(run_dir), "--steps", "1536", "--quiet"]) == 0
    lines = (run_dir / runs.EVALUATIONS).read_text().splitlines()
    assert lines[0] == ",".join(runs.EVALUATION_FIELDS) and lines[1 : len(rows)] == rows[1:]
    assert [int(r["step"]) for r in evaluations(run_dir)] == [512, 1024, 1536]


def test_a_failure_before_the_first_checkpoint_leaves_no_run(tmp_path, monkeypatch):
    def disk_full(path, state):
        path.parent.mkdir(parents=True, exist_ok=True)
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(runs, "_write_state", disk_full)
    run_dir = tmp_path / "run"
    try:
        train.train("ppo", "CartPole-v1", sets=["n_steps=32"], steps=512, run_dir=run_dir, quiet=True, eval_every=256)
    except OSError:
        pass
    else:
        raise AssertionError("the write error must surface")
    assert not run_dir.exists(), "a run that never checkpointed must not block a new one in its directory"


def test_a_damaged_best_model_does_not_fail_a_run_that_does_not_evaluate(tiny_run, tmp_path, capsys):
    import shutil

    run_dir = tmp_path / "copy"
    shutil.copytree(tiny_run, run_dir)
    (run_dir / runs.CHECKPOINTS / runs.BEST).write_bytes(b"junk")
    assert main(["train", "--resume", str(run_dir), "--steps", "768", "--quiet"]) == 0
    assert "best:" not in capsys.readouterr().out


def test_resume_makes_up_an_evaluation_cut_short(tmp_path):
    run_dir = tmp_path / "run"
    assert train_tiny(run_dir, "--steps", "1024", "--eval-every", "512", "--eval-episodes", "2") == 0
    rows = (run_dir / runs.EVALUATIONS).read_text().splitlines()
    (run_dir / runs.EVALUATIONS).write_text("\n".join(rows[:-1]) + "\n")  # Ctrl-C during the 1024 evaluation
    assert main(["train", "--resume", str(run_dir), "--steps", "1536", "--quiet"]) == 0
    # made up at 1024 with the checkpoint's weights, then the one due at 1536
    assert [int(r["step"]) for r in evaluations(run_dir)] == [512, 1024, 1536]
    assert (run_dir / runs.EVALUATIONS).read_text().splitlines()[2] == rows[2]
