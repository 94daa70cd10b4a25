"""The lecture runner and `gymlab lecture`, on a tiny fake lecture registered here."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tensorboard.backend.event_processing.event_file_loader import EventFileLoader

from gymlab.cli import main
from lectures import runner
from lectures.runner import Lecture, Panel, Table, Trial, format_number


def fake_experiment(quick: bool, seed: int, out: Path) -> Trial:
    """Figures with known means over seeds 0, 1, 2: value = seed (+ 10 without --quick)."""
    offset = 0 if quick else 10
    panels = [Panel("curve", {"a": ([0, 1, 2], [3.0, 2.0, 1.0])}, log_y=True)]
    return Trial({"a": {"x": seed + offset, "y": 2.0}, "b": {"x": 2 * seed}}, panels, runs=[str(out / "run")])


def fake(name: str = "fake", held: bool = True) -> Lecture:
    return Lecture(name=name, homework="HW0", claim=f"{name} claims a thing.", arms=("a", "b"),
                   experiment=fake_experiment, condition=lambda table: held and table.mean("a", "x") == 1.0,
                   condition_text="a's x averages 1")  # fmt: skip


@pytest.fixture
def fakes(monkeypatch):
    """Only the fake lectures in the registry (the real ones are not discovered)."""
    registry = {}
    monkeypatch.setattr(runner, "LECTURES", registry)
    monkeypatch.setattr(runner, "_discovered", True)
    runner.register(fake())
    runner.register(fake("fails", held=False))
    return registry


def test_table_mean_spread_and_text():
    table = Table([fake_experiment(True, seed, Path("x")) for seed in range(3)])
    assert table.mean("a", "x") == 1.0 and table.spread("a", "x") == 1.0  # 0, 1, 2
    assert table.mean("b", "x") == 2.0 and table.spread("b", "x") == 2.0  # 0, 2, 4
    assert table.figure_names() == ["x", "y"]
    lines = table.text().splitlines()
    assert lines[1].split() == ["a", "1", "±", "1", "2", "±", "0"]
    assert lines[2].split() == ["b", "2", "±", "2", "-"]  # b has no y
    assert table.to_json()["b"]["x"] == {"mean": 2.0, "spread": 2.0, "values": [0.0, 2.0, 4.0]}


def test_format_number():
    assert [format_number(v) for v in (0.0, 1.414, 3.2e-5, 412.0, 25000.0)] == [
        "0",
        "1.41",
        "3.20e-05",
        "412",
        "2.5e+04",
    ]


def test_lecture_writes_result_json_plot_and_tensorboard(fakes, tmp_path, capsys):
    assert main(["lecture", "fake", "--quick", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "claim:     fake claims a thing." in out and "held:      yes" in out
    assert "mean ± std over 3 seeds" in out
    result = json.loads((tmp_path / "result.json").read_text())
    assert result["lecture"] == "fake" and result["claim"] == "fake claims a thing." and result["held"] is True
    assert result["figures"]["a"]["x"]["values"] == [0.0, 1.0, 2.0] and result["seeds"] == [0, 1, 2]
    assert result["runs"] == [str(tmp_path / f"seed{s}" / "run") for s in range(3)]
    assert (tmp_path / "lecture.png").read_bytes()[:4] == b"\x89PNG"
    events = [e for path in tmp_path.glob("events.out.tfevents.*") for e in EventFileLoader(str(path)).Load()]
    values = {v.tag: v for e in events for v in e.summary.value}
    width, height, png = values["lecture/plot"].tensor.string_val  # the images plugin's layout
    assert values["lecture/plot"].metadata.plugin_data.plugin_name == "images"
    assert png[:4] == b"\x89PNG" and int(width) > 100 and int(height) > 100
    assert values["figures/a/x"].tensor.float_val == [1.0] and values["figures/b/x"].tensor.float_val == [2.0]
    curve = [v.tensor.float_val[0] for e in events for v in e.summary.value if v.tag == "curves/curve/a"]
    assert curve == [3.0, 2.0, 1.0]


def test_full_mode_uses_more_seeds_and_its_own_settings(fakes, tmp_path, capsys):
    assert main(["lecture", "fake", "--seeds", "2", "--out", str(tmp_path)]) == 0
    result = json.loads((tmp_path / "result.json").read_text())
    assert result["figures"]["a"]["x"]["values"] == [10.0, 11.0] and result["held"] is False and not result["quick"]
    assert "held:      NO" in capsys.readouterr().out


def test_a_claim_that_does_not_hold_still_exits_0(fakes, tmp_path, capsys):
    assert main(["lecture", "fails", "--quick", "--seeds", "1", "--out", str(tmp_path)]) == 0
    assert json.loads((tmp_path / "result.json").read_text())["held"] is False


def test_list_prints_name_homework_and_claim(fakes, capsys):
    assert main(["lecture", "list"]) == 0
    out = capsys.readouterr().out
    assert "fake" in out and "HW0" in out and "fake claims a thing." in out and "fails claims a thing." in out


def test_all_runs_every_lecture_into_its_own_folder(fakes, tmp_path, capsys):
    assert main(["lecture", "all", "--quick", "--out", str(tmp_path)]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fails", "fake"]
    assert "claims held: 1 of 2; fails did not hold" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "message"),
    [(["lecture", "nope"], "unknown lecture 'nope'; choose one of fails, fake"),
     (["lecture", "fake", "--seeds", "0"], "--seeds must be at least 1"),
     (["lecture", "fake", "--seeds", "two"], "expected a whole number")],
)  # fmt: skip
def test_bad_input_is_one_line_and_exit_2(fakes, argv, message, capsys):
    try:
        code = main(argv)
    except SystemExit as e:  # argparse's own errors
        code = e.code
    err = capsys.readouterr().err
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1


def test_register_refuses_a_second_lecture_of_the_same_name(fakes):
    with pytest.raises(ValueError, match="two lectures are named 'fake'"):
        runner.register(fake())


def test_the_real_lectures_are_discovered_from_the_package():
    names = set(runner.discover())
    assert {"critical-points", "optimizers", "loss"} <= names
    for name in names:
        lecture = runner.get_lecture(name)
        assert lecture.claim.endswith(".") and lecture.arms and lecture.condition_text


def test_lecture_has_help(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["lecture", "--help"])
    assert exit_info.value.code == 0 and "usage: gymlab lecture" in capsys.readouterr().out


def test_a_panel_of_images_is_drawn_and_sent_to_tensorboard(tmp_path):
    import numpy as np

    grey, rgb = np.arange(16.0).reshape(4, 4), runner.heatmap(-np.eye(4))
    assert rgb.shape == (4, 4, 3) and rgb.max() <= 1 and (rgb[0, 0] != rgb[0, 1]).any()
    panels = [Panel("grid", images=[("grey", grey), ("heat", rgb)]), Panel("curve", {"a": ([0, 1], [1.0, 0.5])})]
    image = runner.plot(panels, "images", tmp_path / "p.png")
    assert image.shape[2] == 3 and (tmp_path / "p.png").read_bytes()[:4] == b"\x89PNG"
    runner.write_events(tmp_path, Table([Trial({"a": {"x": 1.0}})]), panels, image)
    events = [e for path in tmp_path.glob("events.out.tfevents.*") for e in EventFileLoader(str(path)).Load()]
    tags = {v.tag for e in events for v in e.summary.value}
    assert {"images/grid/00 grey", "images/grid/01 heat", "lecture/plot", "curves/curve/a"} <= tags


def test_a_matrix_panel_is_drawn_and_written_to_result_json(tmp_path, monkeypatch):
    def experiment(quick: bool, seed: int, out: Path) -> Trial:
        return Trial({"a": {"x": 1.0}}, [Panel("R", matrix=[[0.9, 0.1], [0.5, 0.8]]), Panel("c", {"a": ([0], [1.0])})])

    monkeypatch.setattr(runner, "LECTURES", {})
    monkeypatch.setattr(runner, "_discovered", True)
    lecture = runner.register(Lecture("matrix", "HW0", "a claim", ("a",), experiment, lambda t: True, "always"))
    result = runner.run_lecture(lecture, quick=True, seeds=1, out=tmp_path)
    saved = json.loads((tmp_path / "result.json").read_text())
    assert saved["matrices"] == {"R": [[0.9, 0.1], [0.5, 0.8]]}
    assert result.held and (tmp_path / "lecture.png").stat().st_size > 0
