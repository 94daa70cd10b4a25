"""Command-line values: ``--set`` pairs and ``--env-kwargs`` literals."""

from __future__ import annotations

import pytest

from gymlab.config import literal, parse_env_kwargs, parse_set


def test_env_kwargs_become_python_values():
    kwargs = parse_env_kwargs(
        ["continuous=true", "enable_wind=False", "wind_power=15", "gravity=-9.5", "map_name=8x8", "seed_list=[1, 2]",
         "opts={a: 1}", "extra=none"]
    )  # fmt: skip
    assert kwargs == {
        "continuous": True, "enable_wind": False, "wind_power": 15, "gravity": -9.5, "map_name": "8x8",
        "seed_list": [1, 2], "opts": {"a": 1}, "extra": None,
    }  # fmt: skip
    assert type(kwargs["wind_power"]) is int and literal("1e-3") == pytest.approx(1e-3)
    assert literal("[1e3, None, x]") == [1000.0, None, "x"] and literal("{a: [2.5e-1]}") == {"a": [0.25]}


def test_bad_env_kwargs_name_the_problem():
    with pytest.raises(ValueError, match=r"malformed --env-kwargs 'continuous:True'.*continuous=true"):
        parse_env_kwargs(["continuous:True"])
    with pytest.raises(ValueError, match="cannot set render_mode"):
        parse_env_kwargs(["render_mode=human"])
    with pytest.raises(ValueError, match="cannot set split: gymlab picks it"):
        parse_env_kwargs(["split=test"])
    with pytest.raises(ValueError, match=r"cannot read '\[1, 2' as a list or map"):
        parse_env_kwargs(["x=[1, 2"])
    for unkept in ("day=[2020-01-01]", "m={1: 2}", "w=nan", "w=inf"):  # config.json would not give them back
        with pytest.raises(ValueError, match="cannot be kept in a run's config.json"):
            parse_env_kwargs([unkept])


def test_set_keeps_text_for_the_config_to_convert():
    assert parse_set(["gamma=0.9", " hidden = 64,64 "]) == {"gamma": "0.9", "hidden": "64,64"}
    with pytest.raises(ValueError, match="malformed --set 'gamma'"):
        parse_set(["gamma"])
