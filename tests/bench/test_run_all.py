"""bench.run_all: which commands a full and a quick run make (dry runs: nothing is trained)."""

from __future__ import annotations

from bench.run_all import main


def commands(capsys, *argv: str) -> list[str]:
    assert main([*argv, "--dry-run"]) == 0
    return [line for line in capsys.readouterr().out.splitlines() if line.startswith("python -m bench.")]


def test_quick_runs_every_cartpole_benchmark_on_one_seed(capsys):
    quick = commands(capsys, "--quick")
    for name in ("ppo", "a2c", "reinforce"):
        assert f"python -m bench.{name} --env CartPole-v1 --seeds 0" in quick
    assert "python -m bench.imitation --env CartPole-v1 --seeds 0" in quick
    assert not any("LunarLander" in c for c in quick)


def test_full_run_plans_both_envs_of_each_rl_learner(capsys):
    full = commands(capsys)
    for name in ("ppo", "a2c", "reinforce"):
        for env in ("CartPole-v1", "LunarLander-v3"):
            assert f"python -m bench.{name} --env {env}" in full
