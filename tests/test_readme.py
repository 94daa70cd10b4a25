"""The README's Python example runs as printed and reaches what it promises."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

README = Path(__file__).resolve().parents[1] / "README.md"


def python_block(heading: str) -> str:
    """The first ```python block under the README section ``heading``."""
    section = README.read_text().split(f"## {heading}\n", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_the_python_api_example_solves_cartpole(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(python_block("Using it from Python"), "README.md", "exec"), namespace)
    assert "{'mean_reward': 500.0" in capsys.readouterr().out
    assert namespace["agent"].num_timesteps >= 100_000
    assert namespace["logits"].shape == (1, 2)
    assert (tmp_path / "runs" / "my-ppo" / "config.json").is_file()


def test_the_task_table_is_the_registrys():
    from supervised.registry import task_table

    text = README.read_text()
    start = text.index("| env id | kind |")
    table = text[start : text.index("\n\n", start) + 1]
    assert table == task_table()


def test_add_your_own_task_registers_trains_and_serves_circles(tmp_path, monkeypatch, capsys):
    """The README's register_task example: the same session trains it through the CLI and SB3."""
    from sklearn.datasets import make_circles

    from supervised import TASKS
    from supervised.registry import split_indices

    monkeypatch.chdir(tmp_path)
    assert "circles" not in TASKS  # the example registers a task gymlab does not ship
    namespace: dict = {}
    try:
        exec(compile(python_block("Add your own task"), "README.md", "exec"), namespace)
    finally:
        TASKS.pop("circles", None)  # other tests see the registry as shipped
    out = capsys.readouterr().out
    assert "val/accuracy:" in out and "split: test (60 examples)" in out
    accuracy = float(re.search(r"^accuracy: ([0-9.]+)$", out, re.M).group(1))
    assert accuracy >= 0.9  # chance is about 0.5 (two balanced circles), as for any linear boundary
    X, y = (
        namespace["X"],
        namespace["y"],
    )  # the test split: its rows of make_circles, standardised with train statistics
    raw_x, raw_y = make_circles(n_samples=400, noise=0.1, factor=0.5, random_state=0)
    test, train = split_indices(len(raw_y), "test"), split_indices(len(raw_y), "train")
    assert X.shape == (len(test), 2) and y.tolist() == raw_y[test].tolist()
    expected = (raw_x[test] - raw_x[train].mean(0)) / raw_x[train].std(0)
    np.testing.assert_allclose(X.numpy(), expected, rtol=1e-4, atol=1e-4)
    assert namespace["model"].num_timesteps >= 512


def test_cross_validation_example_trains_five_folds(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(python_block("Cross-validation"), "README.md", "exec"), namespace)
    result = namespace["result"]
    assert len(result.scores) == 5 and result.runs[0] == "runs/wine-cv/fold-0"
    assert (tmp_path / "runs" / "wine-cv" / "fold-4" / "config.json").is_file()
    assert result.mean() > 0.85  # chance is 0.40 (the largest cultivar)
    assert capsys.readouterr().out.startswith("accuracy 0.")
