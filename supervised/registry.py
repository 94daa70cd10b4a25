"""The task registry: one declaration per supervised task, and the splits every task is served in.

A :class:`TaskSpec` says everything about a task once: how to load or generate its rows, its
kind (:mod:`supervised.kinds`), its bounds and standardisation, the env kwargs and presets its
env id ``gymlab/<Name>-v0`` starts from, and the task families built on it
(:mod:`supervised.families`). The env ids, ``gymlab list``, the presets' lookup, the error
messages and the README's task table all read :data:`TASKS`; no other list of names exists.

Users add a task with :func:`register_task`; the built-in tasks are declared in
:mod:`supervised.tasks` the same way.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import numpy as np

from supervised.kinds import Kind, get_kind

SPLITS: tuple[str, ...] = ("train", "val", "test")
"""Split names accepted by :func:`load_task`."""

SPLIT_FRACTIONS: tuple[float, float, float] = (0.70, 0.15, 0.15)
"""Fractions of each task that go to train, val and test."""

SPLIT_SEED = 2021
"""Seed of the permutation that assigns rows to splits (the same for every task)."""

NAME_PATTERN = r"[A-Za-z][A-Za-z0-9_-]*"
"""Task names: a letter, then letters, digits, '-' or '_' (the env id capitalises the words)."""


@dataclass(frozen=True)
class TaskSpec:
    """One task's declaration: its data, kind, defaults and families."""

    name: str
    """Task name, as ``load_task`` and the env's ``task=`` take it (e.g. ``digits``)."""
    load: Callable[..., Any]
    """Returns ``(x, y)`` arrays (or ``x`` alone for reconstruction); a generator (``seed`` set)
    is called with a ``numpy.random.Generator``."""
    kind: Kind
    """What a prediction is: classification, regression, reconstruction, sequence or seq2seq."""
    description: str = ""
    """One line for ``gymlab list`` and the README table."""
    n_classes: int = 0
    """Labelled kinds: number of classes (0: max label + 1)."""
    seed: int | None = None
    """Generated tasks: seed of the generator passed to ``load``; None for loaded data."""
    standardise: bool = False
    """Standardise inputs (and regression targets) with train-split statistics."""
    x_bounds: tuple[float, float] = (-np.inf, np.inf)
    """Every input value lies in [low, high] (the observation Box)."""
    env_kwargs: Mapping[str, Any] = field(default_factory=dict)
    """Default kwargs of the env id beyond ``task=`` (override them in ``gym.make``)."""
    presets: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    """Tuned hyperparameters on this task's env id: ``{agent: {key: value}}``."""
    families: Mapping[str, Callable[..., Any]] = field(default_factory=dict)
    """Task families built on this task: ``{name: factory(**kwargs) -> family}``."""
    listed: bool = True
    """Whether the task has an env id and appears in ``gymlab list`` (BC's demos do not)."""
    builtin: bool = False
    """Declared by gymlab itself; cannot be replaced."""

    @property
    def env_id(self) -> str:
        """``gymlab/<Name>-v0``, the words of the name capitalised: ``digits-reconstruction`` ->
        ``gymlab/DigitsReconstruction-v0``."""
        return f"gymlab/{env_name(self.name)}-v0"


TASKS: dict[str, TaskSpec] = {}
"""Every registered task by name, in registration order."""

_listeners: list[Callable[[TaskSpec], None]] = []


def env_name(task: str) -> str:
    """The env id's name for a task name: each ``-``/``_``-separated word capitalised."""
    return "".join(word[:1].upper() + word[1:] for word in re.split(r"[-_]", task))


def on_register(callback: Callable[[TaskSpec], None]) -> None:
    """Call ``callback(spec)`` for every task registered from now on (envs registers env ids)."""
    _listeners.append(callback)


def get_task(name: str) -> TaskSpec:
    """The declaration of task ``name``; ValueError naming the known tasks."""
    if name not in TASKS:
        raise ValueError(f"unknown task {name!r}; known: {', '.join(listed_tasks())}")
    return TASKS[name]


def listed_tasks() -> list[str]:
    """Names of the tasks that have an env id, in registration order."""
    return [name for name, spec in TASKS.items() if spec.listed]


def task_for_env_id(env_id: str) -> TaskSpec | None:
    """The listed task whose env id is ``env_id``; None for any other id."""
    return next((spec for spec in TASKS.values() if spec.listed and spec.env_id == env_id), None)


def check_split(split: str) -> None:
    """Raise ``ValueError`` listing the valid split names when ``split`` is not one of them."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; choose one of: {', '.join(SPLITS)}")


def split_indices(n: int, split: str, seed: int = SPLIT_SEED) -> np.ndarray:
    """Sorted rows of an ``n``-row task that belong to ``split`` (70/15/15, disjoint, seeded)."""
    check_split(split)
    order = np.random.default_rng(seed).permutation(n)
    n_train = round(SPLIT_FRACTIONS[0] * n)
    n_val = round(SPLIT_FRACTIONS[1] * n)
    bounds = {"train": (0, n_train), "val": (n_train, n_train + n_val), "test": (n_train + n_val, n)}
    start, stop = bounds[split]
    return np.sort(order[start:stop]).astype(np.int64)


# ----------------------------------------------------------------------------- datasets
@dataclass(frozen=True, eq=False)
class Dataset:
    """One split of one task: inputs, targets and the kind of prediction they ask for.

    Arrays are read-only (they are shared through a cache); copy before modifying.
    """

    name: str
    """Task name."""
    split: str
    """Split name, one of :data:`SPLITS`."""
    x: np.ndarray
    """Inputs, float32, shape (N, *obs_shape)."""
    y: np.ndarray
    """Targets, shaped and typed as the kind says (e.g. (N,) int64 labels)."""
    kind: Kind
    """What a prediction is; owns the loss, the metric and the action spaces."""
    n_classes: int
    """Number of classes (per position for sequences); 0 for real-valued kinds."""
    indices: np.ndarray
    """(N,) int64 row of each example in the whole task, so splits can be compared."""
    target_mean: float = 0.0
    """Regression: ``y`` is (original - target_mean) / target_std; 0 when not standardised."""
    target_std: float = 1.0
    """Regression: scale of ``y`` in original units; 1 when not standardised."""
    x_low: float = -np.inf
    """Every input of the task is >= x_low (-inf when unbounded), e.g. 0 for digits."""
    x_high: float = np.inf
    """Every input of the task is <= x_high (inf when unbounded), e.g. 1 for digits."""

    def __len__(self) -> int:
        """Number of examples in this split."""
        return len(self.x)

    @property
    def obs_shape(self) -> tuple[int, ...]:
        """Shape of one input."""
        return tuple(self.x.shape[1:])

    @property
    def prediction_shape(self) -> tuple[int, ...]:
        """Shape of one prediction (logits or values), as the kind says."""
        return tuple(self.kind.prediction_shape(self.obs_shape, tuple(self.y.shape[1:]), self.n_classes))

    def to_original_units(self, y: np.ndarray) -> np.ndarray:
        """Map (standardised) regression targets or predictions back to the task's own units.

        A mean squared error in original units is ``mse * target_std**2``.
        """
        return np.asarray(y) * self.target_std + self.target_mean

    def subset(self, rows: np.ndarray, x: np.ndarray | None = None, y: np.ndarray | None = None, **changes):
        """A dataset of some of this one's rows (``rows`` index this split), optionally with new
        inputs or targets for them (task families transform a base task this way)."""
        x = self.x[rows] if x is None else x
        y = self.y[rows] if y is None else y
        return dataclasses.replace(
            self, x=_read_only(np.ascontiguousarray(x)), y=_read_only(np.ascontiguousarray(y)),
            indices=_read_only(self.indices[rows]), **changes,
        )  # fmt: skip


@dataclass(frozen=True, eq=False)
class _Rows:
    """All rows of a task before splitting, checked against its kind."""

    x: np.ndarray  # (N, *obs_shape) float32
    y: np.ndarray  # as the kind says
    n_classes: int
    classes: np.ndarray | None = None  # (N,) int64 class of each row: the labels, or a reconstruction loader's


def _read_only(array: np.ndarray) -> np.ndarray:
    array.setflags(write=False)
    return array


def _load_rows(spec: TaskSpec) -> _Rows:
    """Call the spec's loader and check what it returns; ValueError with the fix otherwise."""
    data = spec.load(np.random.default_rng(spec.seed)) if spec.seed is not None else spec.load()
    classes = None
    if spec.kind.target_is_input:  # x alone, or (x, class of each row) to allow ``classes=``
        x = data[0] if isinstance(data, tuple) else data
        y = x
        if isinstance(data, tuple) and len(data) == 2 and data[1] is not None:
            classes = np.asarray(data[1])
            if classes.shape != (len(x),) or not np.issubdtype(classes.dtype, np.integer):
                raise ValueError(
                    f"task {spec.name!r}: a reconstruction loader's (x, classes) needs one integer class per row; "
                    f"got classes of shape {classes.shape} and dtype {classes.dtype}"
                )
    elif isinstance(data, tuple) and len(data) == 2:
        x, y = data
    else:
        raise ValueError(
            f"task {spec.name!r}: load() must return (x, y), e.g. lambda: load_wine(return_X_y=True); "
            f"got {type(data).__name__}"
        )
    try:
        x = np.ascontiguousarray(x, dtype=np.float32)
    except (TypeError, ValueError) as error:
        raise ValueError(f"task {spec.name!r}: inputs x must be numbers ({error})") from None
    if x.ndim < 2:
        raise ValueError(
            f"task {spec.name!r}: x must be (N, *obs_shape), one row per example; got shape {x.shape} "
            "(one feature per example? use x.reshape(-1, 1))"
        )
    if not np.isfinite(x).all():
        raise ValueError(f"task {spec.name!r}: x holds NaN or inf; drop or fill those rows first")
    y, n_classes = spec.kind.check_targets(x, np.asarray(y), spec.n_classes)
    if len(x) < 20:
        raise ValueError(f"task {spec.name!r} has {len(x)} examples; 70/15/15 splits need at least 20")
    if classes is None and spec.kind.labelled and y.ndim == 1:
        classes = y
    return _Rows(x, y, n_classes, None if classes is None else classes.astype(np.int64))


@cache
def _rows(name: str) -> _Rows:
    return _load_rows(get_task(name))


def load_task(name: str, split: str = "train", classes: Any = None) -> Dataset:
    """One split of a task: ``load_task("digits", "test")``; see :data:`TASKS` and :data:`SPLITS`.

    Splits are disjoint, reproducible and fixed by :data:`SPLIT_SEED`. A task declared with
    ``standardise=True`` has its inputs (and regression targets) standardised with *train*
    statistics in every split. ``classes`` (e.g. ``[0, 1, 2]`` or ``"0,1,2"``) keeps only the
    rows of those classes (:func:`row_classes`); labels are not renumbered.
    """
    wanted = parse_classes(classes)
    dataset = _load_split(name, split)
    if wanted is None:
        return dataset
    rows = np.flatnonzero(np.isin(row_classes(name, split), wanted))
    return dataset.subset(rows)


load_task.cache_clear = lambda: _load_split.cache_clear()  # type: ignore[attr-defined]  # as when it was cached


def parse_classes(classes: Any) -> tuple[int, ...] | None:
    """``classes=`` as sorted ints: ``"0,1,2"``, ``2``, ``[0, 1]`` -> tuples; None stays None."""
    if classes is None:
        return None
    words = str(classes).strip("[]() ").split(",") if isinstance(classes, str) else np.atleast_1d(classes).tolist()
    try:
        values = tuple(sorted({int(str(word).strip()) for word in words}))
    except ValueError:
        raise ValueError(f"classes must be class numbers such as 0,1,2; got {classes!r}") from None
    if not values:
        raise ValueError("classes must name at least one class, e.g. classes=0,1,2")
    return values


def row_classes(name: str, split: str = "train") -> np.ndarray:
    """(N,) int64 class of each row of ``split``: the label of a classification task, or the class
    a reconstruction task's loader gave (``digits-reconstruction``: the digit). ValueError for a
    task whose rows have no class."""
    full = _rows(name)
    if full.classes is None:
        raise ValueError(
            f"task {name!r} has no classes to choose from (classes= needs a classification task, or a "
            "reconstruction task whose load() returns (x, class of each row))"
        )
    return full.classes[split_indices(len(full.x), split)]


@cache
def _load_split(name: str, split: str) -> Dataset:
    """The whole ``split`` of task ``name`` (cached: every env of the task shares its arrays)."""
    spec = get_task(name)
    check_split(split)
    full = _rows(name)
    rows = split_indices(len(full.x), split)
    x, y = full.x[rows], full.y[rows]
    target_mean, target_std = 0.0, 1.0
    if spec.standardise:
        train = full.x[split_indices(len(full.x), "train")]
        mean, std = train.mean(axis=0), train.std(axis=0)
        x = (x - mean) / np.where(std > 0, std, 1.0)
        if spec.kind.target_is_input:
            y = x
        if spec.kind.standardise_target:
            train_y = full.y[split_indices(len(full.x), "train")]
            target_mean, target_std = float(train_y.mean()), float(train_y.std()) or 1.0
            y = (y - target_mean) / target_std
    low, high = spec.x_bounds
    return Dataset(
        name=name,
        split=split,
        x=_read_only(np.ascontiguousarray(x, dtype=np.float32)),
        y=_read_only(np.ascontiguousarray(y, dtype=full.y.dtype)),
        kind=spec.kind,
        n_classes=full.n_classes,
        indices=_read_only(rows),
        target_mean=target_mean,
        target_std=target_std,
        x_low=float(low),
        x_high=float(high),
    )


# ----------------------------------------------------------------------------- registration
def declare(spec: TaskSpec) -> TaskSpec:
    """Add a declaration as it is (no loading); :func:`register_task` is the checked entry."""
    TASKS[spec.name] = spec
    _rows.cache_clear()
    _load_split.cache_clear()
    for callback in _listeners:
        callback(spec)
    return spec


def register_task(
    name: str,
    load: Callable[..., Any],
    kind: str | Kind,
    *,
    description: str = "",
    n_classes: int = 0,
    standardise: bool = False,
    x_bounds: tuple[float, float] | None = None,
    seed: int | None = None,
    env_kwargs: Mapping[str, Any] | None = None,
    presets: Mapping[str, Mapping[str, Any]] | None = None,
    listed: bool = True,
    replace: bool = False,
) -> TaskSpec:
    """Register a task: its env id ``gymlab/<Name>-v0`` is then usable by every learner, SB3
    agents and the CLI (``gymlab.cli.main([...])``) in this Python session.

    ``load()`` returns ``(x, y)`` (``x`` alone for kind ``reconstruction``): ``x`` (N, *obs_shape)
    numbers and ``y`` as the kind needs — (N,) integer labels for ``classification``, (N,) or
    (N, D) values for ``regression``, (N, T) labels for ``sequence``, (N, T_out) tokens for
    ``seq2seq``. It is called once here, to check the arrays, and the rows are split 70/15/15.
    Raises ValueError, with the fix, for a taken name, an unknown kind or arrays of the wrong shape.
    """
    if not isinstance(name, str) or not re.fullmatch(NAME_PATTERN, name):
        raise ValueError(f"task name must be a letter then letters, digits, '-' or '_'; got {name!r}")
    old = TASKS.get(name)
    if old is not None and (old.builtin or not replace):
        fix = "pick another name" if old.builtin else "pick another name, or pass replace=True"
        raise ValueError(f"task {name!r} is already registered; {fix}")
    clash = task_for_env_id(f"gymlab/{env_name(name)}-v0")
    if listed and clash is not None and clash.name != name:
        raise ValueError(f"task {name!r} would have the env id of task {clash.name!r}; pick another name")
    if not callable(load):
        raise ValueError(
            f"load must be a function returning (x, y), e.g. lambda: load_wine(return_X_y=True); got {load!r}"
        )
    spec = TaskSpec(
        name=name,
        load=load,
        kind=get_kind(kind),
        description=description or f"registered with register_task({name!r}, ...)",
        n_classes=n_classes,
        seed=seed,
        standardise=standardise,
        x_bounds=x_bounds or (-np.inf, np.inf),
        env_kwargs=dict(env_kwargs or {}),
        presets={agent: dict(values) for agent, values in (presets or {}).items()},
        listed=listed,
    )
    rows = _load_rows(spec)  # fails here, before the registry changes
    low, high = spec.x_bounds
    if rows.x.size and (rows.x.min() < low or rows.x.max() > high):
        raise ValueError(f"task {name!r}: inputs lie outside x_bounds={spec.x_bounds}; widen them or leave them out")
    return declare(spec)


def task_table() -> str:
    """The README's table of tasks (markdown), read from the registry."""
    lines = [
        "| env id | kind | data | observation | label action |",
        "|---|---|---|---|---|",
    ]
    for name in listed_tasks():
        spec, data = TASKS[name], load_task(name, "train")
        space = spec.kind.label_space(tuple(data.y.shape[1:]), data.n_classes)
        label = "—" if space is None else str(space)
        if space is not None and space.shape:  # MultiDiscrete: one label per position
            label = f"MultiDiscrete({' × '.join(map(str, space.shape))}, {data.n_classes} each)"
        obs = data.obs_shape
        lines.append(f"| `{spec.env_id}` | {spec.kind.name} | {spec.description} | {obs} | {label} |")
    return "\n".join(lines) + "\n"
