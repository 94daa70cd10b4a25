"""`gymlab cv`: K supervised runs on the folds of a task's train split, their scores and mean ± std."""

import json

import pytest

from gymlab.cli import main


def test_cv_trains_a_run_per_fold_and_prints_mean_and_std(tmp_path, capsys):
    run_dir = tmp_path / "cv"
    assert main(["cv", "gymlab/Iris-v0", "--folds", "3", "--set", "epochs=15", "--run-dir", str(run_dir)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert [line.split(":")[0] for line in out[:3]] == ["fold 0", "fold 1", "fold 2"]
    assert all("f1_macro" in line and "roc_auc" in line for line in out[:3])
    mean = float(out[3].split()[1])
    assert out[3].startswith("accuracy ") and out[3].endswith(" over 3 folds") and mean > 0.8  # chance ~1/3
    config = json.loads((run_dir / "fold-2" / "config.json").read_text())
    assert config["env_kwargs"]["fold"] == 2 and config["hyperparameters"]["epochs"] == 15


def test_cv_bad_input_is_one_line_and_exit_2(tmp_path, capsys):
    assert main(["cv", "gymlab/Iris-v0", "--folds", "1", "--run-dir", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("gymlab cv: error: ")
    assert err.strip().endswith("--folds must be at least 2 (each fold is held out once), got 1")
    assert main(["cv", "gymlab/Iris-v0", "--set", "patience=3", "--run-dir", str(tmp_path / "y")]) == 2
    assert "leave out patience" in capsys.readouterr().err


def test_cv_has_help(capsys):

    with pytest.raises(SystemExit) as exit_info:
        main(["cv", "--help"])
    assert exit_info.value.code == 0 and "usage: gymlab cv" in capsys.readouterr().out
