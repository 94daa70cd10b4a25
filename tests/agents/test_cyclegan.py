"""Tests for agents.cyclegan: the cycle loss, the translators' shapes and bounds, training that
lowers the cycle loss, the judged figures through the CLI, and settings it refuses."""

import json

import pytest
import torch

from agents import gan_eval
from agents.cyclegan import CycleGAN, cycle_loss

DIGITS = "gymlab/Digits-v0"
TINY = {"target": "digits-thick", "hidden": [16], "disc_hidden": [16]}


@pytest.fixture
def quick_judge(monkeypatch):
    """Judge classifiers trained for a few epochs only (the real ones take a few seconds each)."""
    monkeypatch.setattr(gan_eval, "JUDGE_CONFIG", {"net": "mlp", "hidden": [64, 32], "epochs": 3, "patience": 0})
    gan_eval.judge_for.cache_clear()
    yield
    gan_eval.judge_for.cache_clear()


def test_cycle_loss_is_the_mean_absolute_round_trip_error():
    original = torch.tensor([[0.0, 1.0], [0.5, 0.5]])
    assert float(cycle_loss(original, original)) == 0.0
    assert float(cycle_loss(original, torch.tensor([[0.5, 1.0], [0.5, 0.0]]))) == pytest.approx((0.5 + 0.5) / 4)


def test_translators_keep_the_shape_and_the_bounds_and_training_lowers_the_cycle_loss():
    agent = CycleGAN(DIGITS, seed=0, total_steps=64 * 120, **TINY)
    images = torch.rand(5, 1, 8, 8)
    for to in ("target", "source"):
        out = agent.translate(images, to)
        assert out.shape == (5, 1, 8, 8) and out.min() >= 0 and out.max() <= 1
    seen = []
    agent.learn(callback=lambda a, m: seen.append(m["train/cycle_loss"]))
    assert len(seen) == 120 and sum(seen[-10:]) < 0.5 * sum(seen[:10])


def test_identity_weight_zero_leaves_the_identity_term_out(monkeypatch):
    """The identity loss translates images already in the output style: with identity_weight=0
    each step translates 4 batches (a, b and the two round trips), with it 6."""
    calls = {}
    for weight in (0.0, 5.0):
        agent = CycleGAN(DIGITS, seed=0, total_steps=64, identity_weight=weight, **TINY)
        count = []
        original = agent.translate
        monkeypatch.setattr(
            agent, "translate", lambda x, to="target", seen=count, f=original: seen.append(to) or f(x, to)
        )
        agent.learn()
        calls[weight] = len(count)
    assert calls == {0.0: 4, 5.0: 6}


def test_cyclegan_through_the_cli(tmp_path, quick_judge, capsys):
    from gymlab.cli import main

    run = tmp_path / "run"
    assert main(["train", "cyclegan", DIGITS, "--steps", "640", "--run-dir", str(run), "--quiet",
                 "--set", "target=digits-thick", "--set", "hidden=16", "--set", "disc_hidden=16"]) == 0  # fmt: skip
    assert "kept:        " in capsys.readouterr().out  # the training summary judges the translations
    assert main(["eval", str(run), "--json"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(":")[0] for line in lines[:-1]] == ["split", "kept", "frechet", "cycle"]
    stats = json.loads(lines[-1])
    assert 0 <= stats["kept_to_target"] <= 1 and 0 <= stats["raw_to_target"] <= 1
    assert stats["mean_reward"] == stats["kept_to_target"] and stats["frechet_raw"] > 0


@pytest.mark.parametrize(
    ("settings", "message"),
    [({}, "target=TASK"), ({"target": "nope"}, "unknown task"), ({"target": "moons"}, "same input shape"),
     ({"target": "digits-thick", "cycle_weight": -1.0}, "cycle_weight")],
)  # fmt: skip
def test_bad_settings_say_what_to_do(settings, message):
    with pytest.raises(ValueError, match=message):
        CycleGAN(DIGITS, **settings)
