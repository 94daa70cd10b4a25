"""The lifelong learner: the accuracy matrix on a toy sequence whose answer is known, its files,
its checks, and a resumed run."""

from __future__ import annotations

import json

import numpy as np
import pytest

import gymlab
from agents.lifelong import Lifelong, schedule_end
from supervised import families

# split digits in 2 tasks: classes 0-4, then 5-9 (labels unchanged, one head)
SPLIT = {"family": "split", "n_tasks": 2}
FAST = {"hidden": [64], "batch_size": 64, "learning_rate": 3e-3}


def test_accuracy_matrix_of_fine_tuning_on_split_digits(tmp_path):
    """Trained on classes 0-4 only, the network never answers 5-9: R[0, 1] = 0. Trained then on
    5-9 only it forgets 0-4 (class-incremental fine-tuning): R[1, 0] near 0, BWT near -R[0, 0]."""
    agent = Lifelong("gymlab/Digits-v0", seed=0, env_kwargs={**SPLIT, "switch_every": 8 * 630}, **FAST)
    agent.learn(run_dir=tmp_path / "run")
    matrix = np.array(agent.matrix)
    assert matrix.shape == (2, 2)
    assert matrix[0, 0] > 0.9 and matrix[1, 1] > 0.9
    assert matrix[0, 1] == 0.0
    assert matrix[1, 0] < 0.1
    saved = json.loads((tmp_path / "run" / "lifelong.json").read_text())
    assert saved["matrix"] == agent.matrix
    assert saved["backward_transfer"] == pytest.approx(matrix[1, 0] - matrix[0, 0])
    assert saved["average_accuracy"] == pytest.approx(matrix[1].mean())
    stats = gymlab.load(tmp_path / "run").evaluate()
    assert stats["accuracy"] == pytest.approx(matrix[1].mean())


def test_multitask_keeps_the_first_task():
    agent = Lifelong("gymlab/Digits-v0", seed=0, env_kwargs={**SPLIT, "switch_every": 8 * 630}, multitask=True, **FAST)
    agent.learn()
    matrix = np.array(agent.matrix)
    assert matrix[1, 0] > 0.85 and matrix[1, 1] > 0.85


def test_schedule_end_and_total_steps():
    sequence = families.permuted("digits", n_tasks=3, switch_every=100)
    assert schedule_end(sequence) == 300
    assert schedule_end(families.permuted("digits", n_tasks=3, switch_steps=[100, 250])) == 400
    agent = Lifelong("gymlab/Digits-v0", env_kwargs={"family": "permuted", "n_tasks": 3, "switch_every": 100})
    assert agent.config.total_steps == 300


@pytest.mark.parametrize(
    ("settings", "env_kwargs", "message"),
    [
        ({"reg": "lwf"}, {"family": "permuted"}, "reg must be one of"),
        ({"multitask": True, "reg": "ewc"}, {"family": "permuted"}, "multitask=true"),
        ({"lamb": -1.0}, {"family": "permuted"}, "lamb"),
        ({}, {}, "family=permuted"),
        ({}, {"family": "few-shot"}, "family=permuted"),
    ],
)
def test_bad_settings_say_what_to_do(settings, env_kwargs, message):
    with pytest.raises(ValueError, match=message):
        Lifelong("gymlab/Digits-v0", env_kwargs=env_kwargs, **settings)


@pytest.mark.parametrize("reg", ["ewc", "mas", "si", "scp"])
def test_regularisers_keep_an_anchor_per_finished_task_and_resume(tmp_path, reg):
    kwargs = {"family": "permuted", "n_tasks": 3, "switch_every": 256}
    agent = Lifelong("gymlab/Digits-v0", seed=1, env_kwargs=kwargs, reg=reg, lamb=1.0, importance_examples=64, **FAST)
    agent.learn(512, run_dir=tmp_path / "run")  # tasks 0 and 1 finished
    assert len(agent.anchors) == 2 and len(agent.matrix) == 2
    assert all(sum(float(v.sum()) for v in importance.values()) > 0 for importance, _ in agent.anchors)
    resumed = gymlab.load(tmp_path / "run")
    assert resumed.matrix == agent.matrix and len(resumed.anchors) == 2
    assert float(resumed.penalty()) == pytest.approx(float(agent.penalty()))
