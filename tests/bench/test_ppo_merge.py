"""bench.ppo --merge: seeds run apart are pooled into one report, and files that cannot be pooled
are refused in one line."""

from __future__ import annotations

import json

import pytest

from bench.ppo import merged_runs


def result(tmp_path, name, seeds, env="CartPole-v1", **extra):
    payload = {"env": env, "threads": 1, "overrides": {}, "env_rate": {"steps_per_s": 1.0},
               "runs": [{"seed": s} for s in seeds], **extra}  # fmt: skip
    path = tmp_path / name
    path.write_text(json.dumps(payload))
    return str(path)


def test_seeds_of_two_files_are_pooled_in_seed_order(tmp_path):
    runs, env, overrides = merged_runs([result(tmp_path, "b", [3, 2]), result(tmp_path, "a", [0, 1])], "CartPole-v1")
    assert [r["seed"] for r in runs] == [0, 1, 2, 3] and env == {"steps_per_s": 1.0} and overrides == {}


@pytest.mark.parametrize(
    "second, message",
    [
        ({"seeds": [1]}, "more than one file"),
        ({"seeds": [5], "env": "Acrobot-v1"}, "not 'CartPole-v1'"),
        ({"seeds": [5], "overrides": {"total_steps": 10}}, "ran with"),
        ({"seeds": [5], "threads": 2}, "threads"),
        ({"seeds": [5], "merged": ["x"]}, "itself a merge"),
        ({"seeds": []}, "not a bench.ppo result"),
    ],
)
def test_files_that_cannot_be_pooled_are_refused(tmp_path, second, message):
    second = dict(second)
    seeds = second.pop("seeds")
    paths = [result(tmp_path, "a", [0, 1]), result(tmp_path, "b", seeds, **second)]
    with pytest.raises(SystemExit, match=message):
        merged_runs(paths, "CartPole-v1")
