"""The tree-ensemble learner: SAMME's round, trees kept as arrays, scikit-learn as the reference."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from sklearn.ensemble import AdaBoostClassifier
from sklearn.tree import DecisionTreeClassifier

import gymlab
from agents import training
from agents.trees import Trees, max_nodes, samme_round, tree_leaves
from gymlab.cli import main
from supervised import load_task


def test_samme_round_known_answer():
    step = samme_round(np.full(4, 0.25), np.array([True, False, False, False]), n_classes=2)
    assert step.error == pytest.approx(0.25) and step.vote == pytest.approx(math.log(3))
    np.testing.assert_allclose(step.weights, [0.5, 1 / 6, 1 / 6, 1 / 6])  # 0.25 * 3 against 3 * 0.25, renormalised
    assert step.factor == pytest.approx(2 * math.sqrt(0.25 * 0.75))  # Z = 2 sqrt(e (1 - e)) for two classes


def test_samme_round_adds_log_k_minus_1_and_shrinks_with_the_learning_rate():
    wrong = np.array([True, False, False, False])
    assert samme_round(np.ones(4), wrong, n_classes=3).vote == pytest.approx(math.log(3) + math.log(2))
    assert samme_round(np.ones(4), wrong, 3, learning_rate=0.5).vote == pytest.approx(0.5 * (math.log(3) + math.log(2)))


def test_tree_leaves_are_scikit_learns():
    data = load_task("digits", "train")
    x, y = data.x.reshape(len(data), -1), data.y
    trees = [DecisionTreeClassifier(max_depth=4, random_state=i).fit(x[i::2], y[i::2]) for i in range(2)]
    nodes = max(t.tree_.node_count for t in trees)

    def padded(name, fill):
        return torch.stack([torch.nn.functional.pad(torch.as_tensor(getattr(t.tree_, name)), (0, nodes - t.tree_.node_count),
                                                    value=fill) for t in trees])  # fmt: skip

    arrays = padded("feature", -2), padded("threshold", 0.0), padded("children_left", -1), padded("children_right", -1)
    leaves = tree_leaves(torch.tensor(x).double(), *arrays, depth=4)
    np.testing.assert_array_equal(leaves.numpy(), np.stack([t.apply(x) for t in trees]))


def test_max_nodes():
    assert max_nodes(1, 100) == 3 and max_nodes(3, 100) == 15 and max_nodes(0, 100) == 199 and max_nodes(10, 5) == 9


def test_adaboost_matches_scikit_learns_adaboost():
    agent = Trees("gymlab/Digits-v0", seed=0, members=10, max_depth=2)
    agent.learn()
    train, test = load_task("digits", "train"), load_task("digits", "test")
    flat = test.x.reshape(len(test), -1)
    reference = AdaBoostClassifier(DecisionTreeClassifier(max_depth=2), n_estimators=10, random_state=0)
    reference.fit(train.x.reshape(len(train), -1), train.y)
    with torch.no_grad():
        ours = torch.softmax(agent.model(torch.as_tensor(test.x.copy())), dim=-1).numpy()
    np.testing.assert_allclose(ours, reference.predict_proba(flat), atol=1e-5)
    assert agent.evaluate()["accuracy"] == pytest.approx((reference.predict(flat) == test.y).mean(), abs=1e-6)


def test_product_of_the_factors_is_the_exponential_loss_and_bounds_the_training_error():
    agent = Trees("gymlab/Digits-v0", seed=0, members=8, max_depth=3)
    agent.learn()
    train = load_task("digits", "train")
    x, y = torch.as_tensor(train.x.copy()), torch.as_tensor(train.y.copy())
    with torch.no_grad():
        wrong = (agent.model.member_probabilities(x).argmax(-1) != y).double()  # (M, N)
    votes = agent.model.vote[: int(agent.model.fitted)].double()  # (M,)
    exponential_loss = torch.exp(votes @ wrong - votes.sum() / 2).mean()  # mean_i exp(wrong votes - all votes / 2)
    assert float(exponential_loss) == pytest.approx(
        float(np.prod(agent.history["factor"])), rel=1e-6
    )  # the votes are kept as float32
    assert float(exponential_loss) >= agent.history["train_error"][-1]


def test_bagging_averages_trees_fitted_on_resamples_and_saves_as_a_run(tmp_path):
    agent = Trees("gymlab/Digits-v0", seed=0, method="bagging", members=5, max_depth=0)
    agent.learn(run_dir=tmp_path / "bagged")
    x = torch.as_tensor(load_task("digits", "test").x.copy())
    with torch.no_grad():
        members = agent.model.member_probabilities(x)  # (5, N, 10)
        torch.testing.assert_close(agent.model(x).exp(), members.mean(0).clamp_min(1e-6))
    assert not torch.equal(agent.model.feature[0], agent.model.feature[1])
    loaded = gymlab.load(tmp_path / "bagged")
    with torch.no_grad():
        torch.testing.assert_close(loaded.model(x), agent.model(x))
    assert loaded.evaluate()["accuracy"] == agent.evaluate()["accuracy"] > 0.85


def test_resuming_adaboost_gives_the_same_ensemble(tmp_path):
    whole = Trees("gymlab/Digits-v0", seed=0, members=6)
    whole.learn()
    n_train = len(load_task("digits", "train"))
    part = Trees("gymlab/Digits-v0", seed=0, members=6)
    part.learn(total_steps=3 * n_train, run_dir=tmp_path / "part")
    resumed, _ = training.resume(tmp_path / "part", steps=6 * n_train)
    torch.testing.assert_close(resumed.model.vote, whole.model.vote)


def test_trees_refuse_what_they_cannot_fit(capsys):
    with pytest.raises(ValueError, match="classification"):
        Trees("gymlab/Diabetes-v0")
    with pytest.raises(ValueError, match="method"):
        Trees("gymlab/Digits-v0", method="boosting")
    assert main(["train", "trees", "gymlab/Digits-v0", "--set", "max_depth=-1"]) == 2
    assert "max_depth must be >= 0" in capsys.readouterr().err


def test_adaboost_on_some_classes_boosts_with_the_classes_it_sees():
    # digits 0-2 only: SAMME's K is 3 (as scikit-learn sees it), not the task's 10 labels
    agent = Trees("gymlab/Digits-v0", seed=0, members=5, max_depth=1, env_kwargs={"classes": [0, 1, 2]})
    agent.learn()
    train, test = load_task("digits", "train", [0, 1, 2]), load_task("digits", "test", [0, 1, 2])
    reference = AdaBoostClassifier(DecisionTreeClassifier(max_depth=1), n_estimators=5, random_state=0)
    reference.fit(train.x.reshape(len(train), -1), train.y)
    with torch.no_grad():
        ours = torch.softmax(agent.model(torch.tensor(test.x)), dim=-1)[
            :, :3
        ].numpy()  # the other classes are never voted
    assert agent.n_boosting_classes == 3
    np.testing.assert_array_equal(ours.argmax(-1), reference.predict(test.x.reshape(len(test), -1)))
