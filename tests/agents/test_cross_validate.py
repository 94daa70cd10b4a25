"""agents.crossval: K supervised runs, each scored on a held-out fold it never chose anything by."""

from pathlib import Path

import numpy as np
import pytest
import torch

from agents import runs
from agents.crossval import CrossValidation, cross_validate
from agents.supervised import Supervised
from supervised import load_task
from supervised.crossval import kfold


def test_each_fold_trains_without_its_rows_and_is_scored_on_them(tmp_path):
    result = cross_validate("gymlab/Iris-v0", folds=3, run_dir=tmp_path / "cv", epochs=20, hidden=[16])
    assert len(result.scores) == 3 and result.runs == [str(tmp_path / "cv" / f"fold-{k}") for k in range(3)]
    train = load_task("iris", "train")
    for fold, (run, (train_rows, held_out)) in enumerate(zip(result.runs, kfold("iris", 3))):
        _, agent = runs.load_run(Path(run))  # an ordinary run directory
        assert agent.env_kwargs == {"family": "kfold", "folds": 3, "fold": fold, "seed": 0}
        assert agent.train_set.indices.tolist() == train.indices[train_rows].tolist()
        assert agent.config.patience == 0 and not agent.config.keep_best
        assert agent.config.total_steps == 20 * len(train_rows)  # 20 passes over the fold's train rows
        with torch.no_grad():
            predicted = agent.model(torch.tensor(train.x[held_out])).argmax(1).numpy()
        assert result.scores[fold]["accuracy"] == pytest.approx(np.mean(predicted == train.y[held_out]), abs=1e-6)
    assert result.mean() == pytest.approx(np.mean([s["accuracy"] for s in result.scores]))
    assert result.mean() > 0.8 and "f1_macro" in result.scores[0]  # chance is about 1/3
    assert str(result).startswith("accuracy ") and str(result).endswith(" over 3 folds")


def test_keep_best_false_ends_with_the_last_weights():
    settings = dict(seed=0, device="cpu", epochs=8, patience=0, learning_rate=0.03)  # val loss is lowest before the end
    last = Supervised("gymlab/Iris-v0", keep_best=False, **settings)
    last.learn()
    best = Supervised("gymlab/Iris-v0", **settings)
    best.learn()
    assert last.best_score == best.best_score  # the same training
    last_val, best_val = last.score_split("val"), best.score_split("val")
    assert [-float(best_val["accuracy"]), float(best_val["loss"])] == pytest.approx(best.best_score)
    assert [-float(last_val["accuracy"]), float(last_val["loss"])] > last.best_score  # worse: the last epoch's


def test_mean_and_std_are_numpys():
    result = CrossValidation("mse", [{"mse": 1.0}, {"mse": 2.0}, {"mse": 4.0}], [])
    assert result.mean() == pytest.approx(7 / 3) and result.std() == pytest.approx(np.std([1.0, 2.0, 4.0]))


def test_settings_that_let_the_held_out_fold_choose_are_refused():
    with pytest.raises(ValueError, match="leave out patience"):
        cross_validate("gymlab/Iris-v0", folds=3, patience=5)
