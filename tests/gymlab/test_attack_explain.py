"""Smoke tests of ``gymlab eval --attack`` and ``gymlab explain``, and their bad input (exit 2)."""

from __future__ import annotations

import json

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from gymlab.cli import main


@pytest.fixture(scope="module")
def digits_runs(tmp_path_factory):
    """Two small digits classifiers: a victim and a proxy."""
    root = tmp_path_factory.mktemp("digits")
    for name, hidden in (("victim", "[64]"), ("proxy", "[32]")):
        argv = ["train", "supervised", "gymlab/Digits-v0", "--run-dir", str(root / name), "--quiet",
                "--set", "net=mlp", "--set", f"hidden={hidden}", "--set", "epochs=3"]  # fmt: skip
        assert main(argv) == 0
    return root / "victim", root / "proxy"


def test_eval_attack_prints_clean_and_attacked_accuracy_and_logs_them(digits_runs, capsys):
    victim, proxy = digits_runs
    capsys.readouterr()
    assert main(["eval", str(victim), "--attack", "fgsm", "--eps", "0.3", "--json"]) == 0
    out = capsys.readouterr().out
    assert "attack:      fgsm, eps 0.3 (L-inf, white box" in out
    figures = json.loads(out.strip().splitlines()[-1])
    assert figures["attacked"]["accuracy"] < figures["clean"]["accuracy"] - 0.3
    events = EventAccumulator(str(victim))
    events.Reload()
    assert events.Scalars("attack/fgsm-eps0.3/accuracy")[-1].value == pytest.approx(figures["attacked"]["accuracy"])
    assert main(["eval", str(victim), "--attack", "ifgsm", "--eps", "0.2", "--proxy", str(proxy)]) == 0
    assert f"transfer from {proxy}" in capsys.readouterr().out


def test_eval_targeted_attack_reports_how_often_the_target_was_predicted(digits_runs, capsys):
    victim, _ = digits_runs
    capsys.readouterr()
    assert main(["eval", str(victim), "--attack", "pgd", "--eps", "0.3", "--target", "next", "--json"]) == 0
    out = capsys.readouterr().out
    assert "lowers the run's loss of the target: its clean prediction + 1 mod K" in out
    figures = json.loads(out.strip().splitlines()[-1])
    assert figures["target"] == "next" and figures["attacked"]["target_rate"] > 0.3
    assert f"targeted:    target_rate {figures['attacked']['target_rate']:.4f}" in out
    assert main(["eval", str(victim), "--attack", "fgsm", "--eps", "0.0", "--target", "3", "--json"]) == 0
    untouched = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert untouched["attacked"]["accuracy"] == pytest.approx(untouched["clean"]["accuracy"])
    assert untouched["attacked"]["target_rate"] < 0.2  # eps 0: only the test's own 3s (and mistakes) say 3


def test_eval_attack_plays_a_policy(tiny_run, capsys):
    assert main(["eval", str(tiny_run), "--attack", "noise", "--eps", "0.01", "--episodes", "2"]) == 0
    out = capsys.readouterr().out
    assert "clean:       mean_reward" in out and "attacked:    mean_reward" in out


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--attack", "fgsm"], "--attack needs --eps E"),
        (["--attack", "fgsm", "--eps", "-0.1"], "--eps must be a finite number >= 0, got -0.1"),
        (["--eps", "0.1"], "--eps, --proxy and --target set up an attack"),
        (["--target", "1"], "--eps, --proxy and --target set up an attack"),
        (["--attack", "noise", "--eps", "0.1", "--target", "1"], "--target goes with --attack fgsm|ifgsm|pgd"),
        (
            ["--attack", "fgsm", "--eps", "0.1", "--target", "2"],
            "--target 2 is not a class of CartPole-v1: choose 0..1",
        ),
        (["--attack", "fgsm", "--eps", "0.1", "--target", "-1"], "--target -1 is not a class of CartPole-v1"),
        (["--attack", "fgsm", "--eps", "0.1", "--target", "worst"], "--target must be a class index, next or random"),
        (["--attack", "cw", "--eps", "0.1"], "invalid choice: 'cw'"),
        (["--attack", "fgsm", "--eps", "0.1", "--proxy", "nowhere"], "--proxy nowhere is not a run directory"),
    ],
)
def test_eval_attack_bad_input_is_one_line_and_exit_2(tiny_run, argv, message, capsys):
    try:
        code = main(["eval", str(tiny_run), *argv])
    except SystemExit as e:  # argparse's own refusals
        code = e.code
    err = capsys.readouterr().err
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1


def test_explain_writes_a_png_grid_and_tensorboard_images(digits_runs, capsys):
    victim, _ = digits_runs
    assert main(["explain", str(victim), "--method", "ig", "--n", "4"]) == 0
    out = capsys.readouterr().out
    assert "explain:     ig maps of 4 observations" in out
    assert (victim / "explain-ig.png").read_bytes()[:4] == b"\x89PNG"
    events = EventAccumulator(str(victim), size_guidance={"images": 0})
    events.Reload()
    assert len([tag for tag in events.Tags()["images"] if tag.startswith("explain/ig/")]) == 8  # input + map each


def test_explain_a_policy_and_bad_input(tiny_run, tmp_path, capsys):
    assert main(["explain", str(tiny_run), "--method", "smoothgrad", "--n", "3", "--out", str(tmp_path / "p.png")]) == 0
    assert (tmp_path / "p.png").exists()
    assert main(["explain", str(tmp_path / "none")]) == 2
    assert "is not a run directory" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        main(["explain", str(tiny_run), "--method", "lime"])
    assert exit_info.value.code == 2
