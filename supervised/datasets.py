"""The lectures' supervised tasks as fixed, seeded train/val/test splits (all offline).

Every task is a :class:`Dataset`: float32 inputs ``x`` with one row per example, targets ``y``,
and the ``kind`` of prediction asked for. Nothing is downloaded: ``digits`` and ``diabetes`` are
scikit-learn's bundled data, ``piecewise`` and ``sequence`` are generated from fixed seeds.

| task      | kind           | x shape      | y                       | n_classes |
|-----------|----------------|--------------|-------------------------|-----------|
| digits    | classification | (1, 8, 8)    | (N,) int64 digit        | 10        |
| diabetes  | regression     | (10,)        | (N,) float32, standard. | 0         |
| piecewise | regression     | (1,)         | (N,) float32, raw       | 0         |
| sequence  | sequence       | (16, 8)      | (N, 16) int64           | 4         |
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np

TASKS: tuple[str, ...] = ("digits", "diabetes", "piecewise", "sequence")
"""Names accepted by :func:`load_task`."""

SPLITS: tuple[str, ...] = ("train", "val", "test")
"""Split names accepted by :func:`load_task`."""

KINDS: tuple[str, ...] = ("classification", "regression", "sequence")
"""Values of :attr:`Dataset.kind`."""

SPLIT_FRACTIONS: tuple[float, float, float] = (0.70, 0.15, 0.15)
"""Fractions of each task that go to train, val and test."""

SPLIT_SEED = 2021
"""Seed of the permutation that assigns rows to splits (the same for every task)."""

# Lecture 1's model: y = b + sum_i c_i * sigmoid(b_i + w_i * x), a smooth piecewise-linear curve.
PIECEWISE_SIZE = 2_000
PIECEWISE_SEED = 1
PIECEWISE_X_RANGE = (-4.0, 4.0)
PIECEWISE_BIAS = 0.5  # b
PIECEWISE_HEIGHTS = (2.0, -3.0, 1.5)  # c_i
PIECEWISE_OFFSETS = (
    6.0,
    -2.0,
    -10.0,
)  # b_i: the i-th bend sits at x = -b_i / w_i = -2, 0.5, 2
PIECEWISE_SLOPES = (3.0, 4.0, 5.0)  # w_i
PIECEWISE_NOISE = 0.1

# Sequence labelling: label = how many *other* positions hold the same token, capped at
# SEQUENCE_CLASSES - 1. The count is Binomial(T - 1, 1 / vocab) whatever the token is, so a
# per-token MLP cannot beat the majority class (about 29%); attention, which compares a token
# with every other, can reach 100%. With T=16 and vocab=8 the four classes are nearly balanced
# (13.5%, 28.9%, 28.9%, 28.7%).
SEQUENCE_SIZE = 6_000
SEQUENCE_SEED = 2
SEQUENCE_LENGTH = 16
SEQUENCE_VOCAB = 8
SEQUENCE_CLASSES = 4


@dataclass(frozen=True, eq=False)
class Dataset:
    """One split of one task: inputs, targets and the kind of prediction they ask for.

    Arrays are read-only (they are shared through a cache); copy before modifying.
    """

    name: str
    """Task name, one of :data:`TASKS`."""
    split: str
    """Split name, one of :data:`SPLITS`."""
    x: np.ndarray
    """Inputs, float32, shape (N, *obs_shape)."""
    y: np.ndarray
    """Targets: (N,) int64 classes, (N,) or (N, D) float32 regression values, or (N, T) int64 labels."""
    kind: str
    """'classification', 'regression' or 'sequence' (one class label per position)."""
    n_classes: int
    """Number of classes (per position for 'sequence'); 0 for regression."""
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
    def out_dim(self) -> int:
        """Values one prediction holds (per position for 'sequence'): the classes' logits, or
        the regression values (1 for (N,) targets, D for (N, D))."""
        if self.kind != "regression":
            return self.n_classes
        return 1 if self.y.ndim == 1 else int(self.y.shape[1])

    def to_original_units(self, y: np.ndarray) -> np.ndarray:
        """Map (standardised) regression targets or predictions back to the task's own units.

        A mean squared error in original units is ``mse * target_std**2``.
        """
        return np.asarray(y) * self.target_std + self.target_mean


@dataclass(frozen=True, eq=False)
class _FullTask:
    """All rows of a task before splitting."""

    x: np.ndarray  # (N, *obs_shape) float32
    y: np.ndarray  # (N,) or (N, T)
    kind: str
    n_classes: int
    standardise: bool  # standardise features and target with train statistics
    x_low: float = -np.inf
    x_high: float = np.inf


def _digits() -> _FullTask:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x = (bunch.images / 16.0).astype(np.float32)[:, None]  # (N, 1, 8, 8) channel-first, in [0, 1]
    y = bunch.target.astype(np.int64)
    return _FullTask(x, y, "classification", 10, standardise=False, x_low=0.0, x_high=1.0)


def _diabetes() -> _FullTask:
    from sklearn.datasets import load_diabetes

    bunch = load_diabetes(scaled=False)  # raw units; we standardise with train statistics only
    x = bunch.data.astype(np.float32)  # (442, 10)
    y = bunch.target.astype(np.float32)  # (442,) disease progression after one year
    return _FullTask(x, y, "regression", 0, standardise=True)


def piecewise_curve(x: np.ndarray) -> np.ndarray:
    """Noise-free lecture-1 curve ``b + sum_i c_i * sigmoid(b_i + w_i * x)`` used by ``piecewise``."""
    x = np.asarray(x, dtype=np.float64)[..., None]  # (..., 1) against (n_sigmoids,)
    z = np.asarray(PIECEWISE_OFFSETS) + np.asarray(PIECEWISE_SLOPES) * x
    return PIECEWISE_BIAS + (np.asarray(PIECEWISE_HEIGHTS) / (1.0 + np.exp(-z))).sum(axis=-1)


def _piecewise() -> _FullTask:
    rng = np.random.default_rng(PIECEWISE_SEED)
    x = rng.uniform(*PIECEWISE_X_RANGE, size=PIECEWISE_SIZE)  # (N,)
    y = piecewise_curve(x) + PIECEWISE_NOISE * rng.standard_normal(PIECEWISE_SIZE)
    x = x.astype(np.float32)[:, None]  # (N, 1)
    low, high = PIECEWISE_X_RANGE
    return _FullTask(x, y.astype(np.float32), "regression", 0, False, x_low=low, x_high=high)


def sequence_labels(tokens: np.ndarray, n_classes: int = SEQUENCE_CLASSES) -> np.ndarray:
    """Label of each position: how many other positions hold the same token, capped at n_classes-1.

    ``tokens`` is (N, T) integers; the result is (N, T) int64.
    """
    tokens = np.asarray(tokens)
    same = tokens[:, :, None] == tokens[:, None, :]  # (N, T, T), diagonal included
    return np.minimum(same.sum(axis=-1) - 1, n_classes - 1).astype(np.int64)


def _sequence() -> _FullTask:
    rng = np.random.default_rng(SEQUENCE_SEED)
    tokens = rng.integers(0, SEQUENCE_VOCAB, size=(SEQUENCE_SIZE, SEQUENCE_LENGTH))  # (N, T)
    x = np.eye(SEQUENCE_VOCAB, dtype=np.float32)[tokens]  # (N, T, vocab) one-hot
    labels = sequence_labels(tokens)  # (N, T)
    return _FullTask(x, labels, "sequence", SEQUENCE_CLASSES, False, x_low=0.0, x_high=1.0)


_BUILDERS = {
    "digits": _digits,
    "diabetes": _diabetes,
    "piecewise": _piecewise,
    "sequence": _sequence,
}


def check_task(name: str) -> None:
    """Raise ``ValueError`` listing the valid task names when ``name`` is not one of them."""
    if name not in TASKS:
        raise ValueError(f"unknown task {name!r}; choose one of: {', '.join(TASKS)}")


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
    bounds = {
        "train": (0, n_train),
        "val": (n_train, n_train + n_val),
        "test": (n_train + n_val, n),
    }
    start, stop = bounds[split]
    return np.sort(order[start:stop]).astype(np.int64)


@cache
def _full_task(name: str) -> _FullTask:
    return _BUILDERS[name]()


def _read_only(array: np.ndarray) -> np.ndarray:
    array.setflags(write=False)
    return array


@cache
def load_task(name: str, split: str = "train") -> Dataset:
    """One split of a task: ``load_task("digits", "test")``; see :data:`TASKS` and :data:`SPLITS`.

    Splits are disjoint, reproducible and fixed by :data:`SPLIT_SEED`. For ``diabetes`` the
    features and the target are standardised with *train* statistics in every split.
    """
    check_task(name)
    check_split(split)
    full = _full_task(name)
    rows = split_indices(len(full.x), split)
    x, y = full.x[rows], full.y[rows]
    target_mean, target_std = 0.0, 1.0
    if full.standardise:
        train = split_indices(len(full.x), "train")
        mean, std = full.x[train].mean(axis=0), full.x[train].std(axis=0)
        x = (x - mean) / np.where(std > 0, std, 1.0)
        target_mean, target_std = (
            float(full.y[train].mean()),
            float(full.y[train].std()),
        )
        y = (y - target_mean) / target_std
    return Dataset(
        name=name,
        split=split,
        x=_read_only(np.ascontiguousarray(x, dtype=np.float32)),
        y=_read_only(np.ascontiguousarray(y, dtype=full.y.dtype)),
        kind=full.kind,
        n_classes=full.n_classes,
        indices=_read_only(rows),
        target_mean=target_mean,
        target_std=target_std,
        x_low=full.x_low,
        x_high=full.x_high,
    )


def add_task(name: str, x: np.ndarray, y: np.ndarray, kind: str, n_classes: int = 0) -> None:
    """Register in-memory arrays as a task, so :func:`load_task` and the single-step envs serve
    them with the usual seeded 70/15/15 splits (behaviour cloning turns expert demonstrations,
    observation -> action, into a classification or regression task this way).

    ``x`` is (N, *obs_shape), ``y`` (N,) int64 classes (kind 'classification', ``n_classes`` > 0)
    or (N,) or (N, D) float32 values (kind 'regression'). Built-in task names cannot be replaced; adding an
    existing added name again replaces its arrays (name added tasks by their content to avoid that).
    """
    global TASKS
    builtin = ("digits", "diabetes", "piecewise", "sequence")
    if name in builtin:
        raise ValueError(f"task {name!r} is built in and cannot be replaced; pick another name")
    if kind not in ("classification", "regression"):
        raise ValueError(f"added tasks are 'classification' or 'regression', got {kind!r}")
    x = np.ascontiguousarray(x, dtype=np.float32)
    y = np.asarray(y, dtype=np.int64 if kind == "classification" else np.float32)
    regression_values = kind == "regression" and y.ndim == 2 and y.shape[1] >= 1
    if x.ndim < 2 or len(y) != len(x) or not (y.ndim == 1 or regression_values):
        wanted = "(N,) or (N, D)" if kind == "regression" else "(N,)"
        raise ValueError(f"x must be (N, *obs_shape) and y {wanted}; got {x.shape} and {y.shape}")
    if kind == "classification" and (n_classes < 1 or y.min() < 0 or y.max() >= n_classes):
        raise ValueError(f"classification targets must be in [0, n_classes={n_classes})")
    full = _FullTask(x, y, kind, n_classes if kind == "classification" else 0, standardise=False)
    _BUILDERS[name] = lambda: full
    if name not in TASKS:
        TASKS = (*TASKS, name)
    _full_task.cache_clear()
    load_task.cache_clear()
