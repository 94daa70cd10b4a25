"""Hyperparameters: the tuned presets shipped in presets.yaml (rl-baselines3-zoo's where it has
them), layered with the user's values into a config dataclass, each value converted to the field's
type and checked."""

from __future__ import annotations

import dataclasses
import difflib
import typing
from importlib import resources
from typing import Any

import yaml

from supervised.registry import TASKS, task_for_env_id

_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}


def load_presets() -> dict[str, dict[str, dict[str, Any]]]:
    """The tuned hyperparameters shipped with gymlab: ``{agent: {env_id: {key: value}}}``, from
    presets.yaml (gymnasium's envs) and from the task registry (each task declares its own)."""
    text = resources.files("agents").joinpath("presets.yaml").read_text()
    table = yaml.safe_load(text) or {}
    for spec in TASKS.values():
        if spec.listed:
            for agent, values in spec.presets.items():
                table.setdefault(agent, {})[spec.env_id] = dict(values)
    return table


def preset(agent: str, env_id: str) -> dict[str, Any]:
    """The preset for (agent, env_id); empty when there is none (the learner's defaults apply).
    A gymlab task's env id reads its declaration's presets."""
    spec = task_for_env_id(env_id)
    if spec is not None:
        return dict(spec.presets.get(agent, {}))
    return dict(load_presets().get(agent, {}).get(env_id, {}))


def fields(config_cls: type) -> dict[str, Any]:
    """Field name -> resolved type annotation of a config dataclass."""
    hints = typing.get_type_hints(config_cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(config_cls)}


def coerce(key: str, value: Any, kind: Any) -> Any:
    """Convert ``value`` (a string from the command line, or a YAML scalar) to the field's type."""

    def bad(expected: str) -> ValueError:
        return ValueError(f"{key} expects {expected}, got {value!r}")

    if kind is bool:
        if isinstance(value, bool):
            return value
        text = str(value).lower()
        if text in _TRUE | _FALSE:
            return text in _TRUE
        raise bad("true or false")
    if kind is int:
        if isinstance(value, bool):
            raise bad("an integer")
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise bad("an integer") from None
        if not number.is_integer():
            raise bad("an integer")
        return int(number)
    if kind is float:
        if isinstance(value, bool):
            raise bad("a number")
        try:
            return float(value)
        except (TypeError, ValueError):
            raise bad("a number") from None
    if kind is str:
        return str(value)
    if typing.get_origin(kind) is list:
        (inner,) = typing.get_args(kind)
        if isinstance(value, str):
            text = value.strip().strip("[]()")
            items = [v for v in (p.strip() for p in text.split(",")) if v]
        elif isinstance(value, (list, tuple)):
            items = list(value)
        else:
            raise bad("a comma-separated list, e.g. 64,64")
        return [coerce(key, v, inner) for v in items]
    raise TypeError(f"no conversion for {key} of type {kind}")


def build_config(config_cls: type, *layers: dict[str, Any]):
    """A config dataclass from layered key/value dicts (later layers win), checked.

    Unknown keys and wrong types raise ValueError naming the key (and close matches).
    """
    known = fields(config_cls)
    values: dict[str, Any] = {}
    for layer in layers:
        for key, value in layer.items():
            if key not in known:
                close = difflib.get_close_matches(key, known, n=2, cutoff=0.6)
                hint = f"; did you mean {' or '.join(close)}?" if close else "; `gymlab list --keys AGENT` shows them"
                raise ValueError(f"unknown hyperparameter {key!r}{hint}")
            values[key] = coerce(key, value, known[key])
    config = config_cls(**values)
    config.check()
    return config


def field_docs(config_cls: type) -> dict[str, str]:
    """Field name -> the one-line docstring written under it in the dataclass source."""
    import ast
    import inspect

    docs: dict[str, str] = {}
    for cls in reversed(config_cls.__mro__):
        if not dataclasses.is_dataclass(cls):
            continue
        tree = ast.parse(inspect.getsource(cls))
        body = tree.body[0].body
        for node, after in zip(body, body[1:]):
            if (
                isinstance(node, ast.AnnAssign)
                and isinstance(node.target, ast.Name)
                and isinstance(after, ast.Expr)
                and isinstance(after.value, ast.Constant)
                and isinstance(after.value.value, str)
            ):
                docs[node.target.id] = after.value.value.strip()
    return docs
