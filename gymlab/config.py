"""The command line's words for hyperparameters and env kwargs: ``--set key=value`` and ``--env-kwargs``
(converted to each config field's type by :func:`agents.presets.build_config`)."""

from __future__ import annotations

import json
from typing import Any

import yaml


def _pairs(items: list[str], flag: str, example: str) -> dict[str, str]:
    """``["a=1", "b=x"]`` -> ``{"a": "1", "b": "x"}``; ValueError naming ``flag`` for a malformed item."""
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise ValueError(f"malformed {flag} {item!r}: expected key=value, e.g. {flag} {example}")
        out[key.strip()] = value.strip()
    return out


def parse_set(items: list[str]) -> dict[str, str]:
    """``--set`` items -> ``{key: text}`` (converted later, by the config field's type)."""
    return _pairs(items, "--set", "learning_rate=3e-4")


# chosen by gymlab itself: rendering for videos, the dataset split for training and evaluation
RESERVED_ENV_KWARGS = {
    "render_mode": "gymlab sets it (rgb_array while recording videos)",
    "split": "gymlab picks it: train to learn, val for --eval-every, test for gymlab eval",
}


def parse_env_kwargs(items: list[str]) -> dict[str, Any]:
    """``--env-kwargs`` items -> keyword arguments of the env's constructor (rl-baselines3-zoo's
    ``--env-kwargs``): ``true``/``false``, ``none``, integers, numbers, ``[lists]`` and ``{maps}``
    become Python values, anything else stays text."""
    out: dict[str, Any] = {}
    for key, text in _pairs(items, "--env-kwargs", "continuous=true").items():
        if key in RESERVED_ENV_KWARGS:
            raise ValueError(f"--env-kwargs cannot set {key}: {RESERVED_ENV_KWARGS[key]}")
        value = literal(text)
        try:  # kept in config.json and demos files: it must come back from JSON as it went in
            kept = json.loads(json.dumps(value, allow_nan=False)) == value
        except (TypeError, ValueError):
            kept = False
        if not kept:
            raise ValueError(
                f"--env-kwargs {key}={text} cannot be kept in a run's config.json; use numbers, true/false, none, "
                "text, and lists or maps of those (map keys are text)"
            )
        out[key] = value
    return out


def literal(text: str) -> Any:
    """The Python value a command-line word stands for (see :func:`parse_env_kwargs`)."""
    lower = text.lower()
    if lower in ("true", "false"):
        return lower == "true"
    if lower in ("none", "null"):
        return None
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    if text[0] in "[{":
        try:
            value = yaml.safe_load(text)
        except yaml.YAMLError:
            raise ValueError(f"cannot read {text!r} as a list or map, e.g. [1, 2] or {{a: 1}}") from None
        return _words_read(value)
    return text


def _words_read(value: Any) -> Any:
    """The text items of a YAML list or map read as :func:`literal` reads a word (YAML leaves
    ``1e3`` and ``None`` as text)."""
    if isinstance(value, list):
        return [_words_read(v) for v in value]
    if isinstance(value, dict):
        return {k: _words_read(v) for k, v in value.items()}
    return literal(value) if isinstance(value, str) and value else value
