"""Task families: many tasks built from one, for lifelong learning and meta-learning.

- A :class:`TaskSequence` serves tasks one after another on a schedule (lifelong learning):
  :func:`permuted` (each task a fixed pixel permutation of the base task) and :func:`split`
  (each task a group of the base task's classes). Every task's every split stays reachable
  through :meth:`TaskSequence.dataset`.
- A :class:`TaskVariant` is one other version of the base task, fixed per split (self- and
  semi-supervised learning): :func:`labelled` (only some train labels kept: the rest of the train
  split is unlabelled) and :func:`masked` (masked-token pre-training: corrupted token sequences
  whose targets are the original tokens, BERT's pretext task).
- A :class:`TaskDistribution` draws a new task when asked (meta-learning), each with a
  *support* set to adapt on and a disjoint *query* set to be scored on: :func:`sine` (sine
  waves of random amplitude and phase) and :func:`few_shot` (N-way K-shot classification, the
  drawn classes relabelled 0..N-1 every time).

- A :class:`~supervised.crossval.FoldTask` (family ``kfold``, which every task has) holds one
  fold of the train split out as the val split, for K-fold cross-validation.

A task declares its families (``TaskSpec.families``); the env selects one with the kwarg
``family=NAME`` plus the family's own kwargs, e.g.
``gym.make("gymlab/Digits-v0", family="permuted", n_tasks=3, switch_every=5000)``.
"""

from __future__ import annotations

import bisect
import inspect
import math
from dataclasses import dataclass, replace
from functools import partial
from typing import Any

import numpy as np

from supervised.crossval import FoldTask, fold_task
from supervised.kinds import IGNORE, get_kind
from supervised.registry import Dataset, get_task, load_task


# ----------------------------------------------------------------------------- sequences
@dataclass(frozen=True)
class TaskSequence:
    """Tasks 0..n_tasks-1 made from one base task, switching at the steps of a schedule.

    ``switch_steps`` are increasing step counts (examples served): task k is served from step
    ``switch_steps[k-1]`` on. :meth:`dataset` gives any task's any split.
    """

    base: str
    """The task the family is built on."""
    n_tasks: int
    """Number of tasks in the sequence."""
    switch_steps: tuple[int, ...]
    """Steps at which the next task starts; n_tasks - 1 of them."""
    transform: str
    """'permuted' or 'split': how task k is made from the base task."""
    seed: int = 0
    """Seed of the permutations (permuted)."""

    def task_at(self, step: int) -> int:
        """The task served at ``step`` (0-based count of examples served)."""
        return bisect.bisect_right(self.switch_steps, step)

    def dataset(self, task_id: int, split: str = "train") -> Dataset:
        """Split ``split`` of task ``task_id``; ValueError when there is no such task."""
        if not 0 <= task_id < self.n_tasks:
            raise ValueError(f"task_id must be in [0, {self.n_tasks - 1}] for {self.n_tasks} tasks; got {task_id}")
        base = load_task(self.base, split)
        if self.transform == "permuted":
            order = self.permutation(task_id)
            x = base.x.reshape(len(base), -1)[:, order].reshape(base.x.shape)
            return base.subset(np.arange(len(base)), x=x)
        rows = np.flatnonzero(np.isin(base.y, self.classes(task_id)))
        return base.subset(rows)

    def permutation(self, task_id: int) -> np.ndarray:
        """Permuted: the order of the flattened input's values in task ``task_id`` (task 0 keeps
        the base task's order); fixed by ``seed``."""
        n = math.prod(load_task(self.base, "train").obs_shape)
        if task_id == 0:
            return np.arange(n)
        return np.random.default_rng([self.seed, task_id]).permutation(n)

    def classes(self, task_id: int) -> np.ndarray:
        """Split: the base task's classes that task ``task_id`` holds (consecutive groups)."""
        n_classes = load_task(self.base, "train").n_classes
        return np.array_split(np.arange(n_classes), self.n_tasks)[task_id]


def _schedule(n_tasks: int, switch_every: int | None, switch_steps, default_every: int) -> tuple[int, ...]:
    if switch_steps is not None and switch_every is not None:
        raise ValueError("give switch_every or switch_steps, not both")
    if switch_steps is None:
        every = default_every if switch_every is None else int(switch_every)
        if every < 1:
            raise ValueError(f"switch_every must be >= 1 examples; got {switch_every}")
        return tuple(every * k for k in range(1, n_tasks))
    steps = tuple(int(s) for s in switch_steps)
    if len(steps) != n_tasks - 1 or any(b <= a for a, b in zip((0, *steps), steps)):
        raise ValueError(
            f"switch_steps must be {n_tasks - 1} increasing positive steps for {n_tasks} tasks; got {steps}"
        )
    return steps


def permuted(
    base: str, n_tasks: int = 5, switch_every: int | None = None, switch_steps=None, seed: int = 0
) -> TaskSequence:
    """Permuted tasks: task k shows the base task's inputs with their values in a fixed random
    order (task 0 unpermuted). Switches every train split's worth of examples unless told."""
    if n_tasks < 1:
        raise ValueError(f"n_tasks must be >= 1; got {n_tasks}")
    every = len(load_task(base, "train"))
    return TaskSequence(base, n_tasks, _schedule(n_tasks, switch_every, switch_steps, every), "permuted", seed)


def split(base: str, n_tasks: int = 5, switch_every: int | None = None, switch_steps=None) -> TaskSequence:
    """Split tasks: task k holds only a consecutive group of the base task's classes (digits in 5
    tasks: 0-1, 2-3, ...), labels unchanged. Switches after each task's train split unless told."""
    n_classes = load_task(base, "train").n_classes
    if not 1 <= n_tasks <= n_classes:
        raise ValueError(f"n_tasks must be in [1, {n_classes}] for {n_classes} classes; got {n_tasks}")
    sequence = TaskSequence(base, n_tasks, (), "split")
    every = len(sequence.dataset(0, "train"))
    return replace(sequence, switch_steps=_schedule(n_tasks, switch_every, switch_steps, every))


# ----------------------------------------------------------------------------- variants
@dataclass(frozen=True)
class TaskVariant:
    """One other version of the base task: :meth:`dataset` gives its fixed split."""

    base: str
    """The task the variant is built on."""
    name: str
    """'labelled' or 'masked'."""
    n_labels: int = 0
    """Labelled: train examples whose labels are kept."""
    mask_rate: float = 0.15
    """Masked: fraction of positions chosen for corruption."""
    copies: int = 1
    """Masked: the train split repeated this many times, each copy with its own masks."""
    seed: int = 0
    """Seed of the labelled rows or of the masks."""

    def labelled_rows(self) -> np.ndarray:
        """Labelled: the rows of the base train split whose labels are kept (sorted)."""
        n = len(load_task(self.base, "train"))
        return np.sort(np.random.default_rng([self.seed, 1]).choice(n, self.n_labels, replace=False))

    def unlabelled_x(self) -> np.ndarray:
        """Labelled: the inputs of the other train rows, whose labels are not used."""
        train = load_task(self.base, "train")
        return train.x[np.setdiff1d(np.arange(len(train)), self.labelled_rows())]

    def dataset(self, split: str = "train") -> Dataset:
        """Labelled: the train split cut to the labelled rows, val and test whole. Masked: every
        split's inputs corrupted (:func:`mask_tokens`), its targets the original tokens at the
        positions chosen for corruption (:data:`IGNORE` elsewhere, a ``masked-tokens`` task)."""
        base = load_task(self.base, split)
        if self.name == "labelled":
            return base.subset(self.labelled_rows()) if split == "train" else base
        copies = self.copies if split == "train" else 1
        tokens = np.tile(base.x.argmax(axis=-1), (copies, 1))  # (copies * N, T) token ids
        rng = np.random.default_rng([self.seed, ("train", "val", "test").index(split)])
        corrupted, chosen = mask_tokens(tokens, rng, self.mask_rate, base.x.shape[-1])
        x = one_hot_or_mask(corrupted, base.x.shape[-1])
        targets = np.where(chosen, tokens, IGNORE)  # scored at the chosen positions only, as BERT's loss
        rows = np.tile(np.arange(len(base)), copies)
        return base.subset(rows, x=x, y=targets, kind=get_kind("masked-tokens"), n_classes=base.x.shape[-1])


MASK = -1
"""The masked token's id in :func:`mask_tokens`' output; its one-hot row is all zeros."""


def mask_tokens(
    tokens: np.ndarray, rng: np.random.Generator, rate: float, n_tokens: int
) -> tuple[np.ndarray, np.ndarray]:
    """BERT's corruption of token ids (N, T): each position is chosen with probability ``rate``;
    a chosen one becomes :data:`MASK` 80% of the time, a random token 10%, and stays 10%.
    Returns ``(corrupted (N, T), chosen (N, T) bool)``."""
    tokens = np.asarray(tokens)
    chosen = rng.random(tokens.shape) < rate
    action = rng.random(tokens.shape)  # < 0.8: mask, 0.8-0.9: random token, >= 0.9: unchanged
    random_tokens = rng.integers(0, n_tokens, size=tokens.shape)
    corrupted = np.where(chosen & (action < 0.8), MASK, tokens)
    corrupted = np.where(chosen & (action >= 0.8) & (action < 0.9), random_tokens, corrupted)
    return corrupted, chosen


def one_hot_or_mask(tokens: np.ndarray, n_tokens: int) -> np.ndarray:
    """Token ids (N, T) to one-hot rows (N, T, n_tokens) float32; :data:`MASK` to a row of zeros."""
    eye = np.vstack([np.eye(n_tokens, dtype=np.float32), np.zeros((1, n_tokens), dtype=np.float32)])
    return eye[np.where(tokens == MASK, n_tokens, tokens)]


def labelled(base: str, n_labels: int = 0, fraction: float = 0.0, seed: int = 0) -> TaskVariant:
    """Few labels: ``n_labels`` train examples (or ``fraction`` of the train split) keep their
    labels, drawn with ``seed``; the other train inputs are the unlabelled pool
    (:meth:`TaskVariant.unlabelled_x`). Val and test are whole."""
    n_train = len(load_task(base, "train"))
    if (n_labels > 0) == (fraction > 0):
        raise ValueError(f"give n_labels (1..{n_train}) or fraction (0..1], one of them; got {n_labels} and {fraction}")
    n = int(n_labels) if n_labels else max(1, round(float(fraction) * n_train))
    if not 1 <= n <= n_train or fraction > 1:
        raise ValueError(f"n_labels must be in [1, {n_train}] and fraction in (0, 1]; got {n_labels} and {fraction}")
    return TaskVariant(base, "labelled", n_labels=n, seed=int(seed))


def masked(base: str, mask_rate: float = 0.15, copies: int = 1, seed: int = 0) -> TaskVariant:
    """Masked-token pre-training on the base task's one-hot token sequences, labels unused: the
    inputs corrupted by :func:`mask_tokens`, the targets the original tokens (a ``sequence``
    task with one class per token)."""
    x = load_task(base, "train").x
    if x.ndim != 3 or not np.all(x.sum(axis=-1) == 1):
        raise ValueError(f"masked needs one-hot token sequences (N, T, vocab); {base!r} inputs are {x.shape[1:]}")
    if not 0 < mask_rate <= 1 or copies < 1:
        raise ValueError(f"mask_rate must be in (0, 1] and copies >= 1; got {mask_rate} and {copies}")
    return TaskVariant(base, "masked", mask_rate=float(mask_rate), copies=int(copies), seed=int(seed))


# ----------------------------------------------------------------------------- distributions
@dataclass(frozen=True, eq=False)
class MetaTask:
    """One drawn task: a support set to adapt on and a disjoint query set to be scored on."""

    support_x: np.ndarray
    """(K, *obs_shape) inputs to adapt on."""
    support_y: np.ndarray
    """(K, ...) their targets."""
    query_x: np.ndarray
    """(Q, *obs_shape) inputs to be scored on."""
    query_y: np.ndarray
    """(Q, ...) their targets."""
    params: dict[str, Any]
    """What was drawn: amplitude and phase; or the base task's classes in label order, and the
    rows of the split that the support and query sets hold."""


@dataclass(frozen=True)
class TaskDistribution:
    """Draws tasks: :meth:`sample` gives a :class:`MetaTask`; :meth:`template` a dataset whose
    shapes, kind and classes every drawn task shares (for the env's spaces)."""

    base: str
    """The task the family is built on (its kind, inputs and bounds)."""
    name: str
    """'sine' or 'few-shot'."""
    k_shot: int
    """Support examples per task (per class for few-shot)."""
    n_query: int
    """Query examples per task (per class for few-shot)."""
    n_way: int = 0
    """Few-shot: classes per task."""
    amplitude: tuple[float, float] = (0.1, 5.0)
    """Sine: amplitude drawn uniformly from this range."""
    phase: tuple[float, float] = (0.0, math.pi)
    """Sine: phase drawn uniformly from this range."""

    def template(self, split: str = "train") -> Dataset:
        """The base split, relabelled to n_way classes for few-shot: the shapes every task has."""
        base = load_task(self.base, split)
        return replace(base, n_classes=self.n_way) if self.n_way else base

    def sample(self, rng: np.random.Generator, split: str = "train") -> MetaTask:
        """Draw one task from ``split`` of the base task (meta-train on train, meta-test on test)."""
        base = load_task(self.base, split)
        if self.name == "sine":
            amplitude, phase = rng.uniform(*self.amplitude), rng.uniform(*self.phase)
            rows = rng.choice(len(base), self.k_shot + self.n_query, replace=False)
            x = base.x[rows]  # (K + Q, 1)
            y = (amplitude * np.sin(x[:, 0] - phase)).astype(np.float32)  # (K + Q,)
            support, query = slice(0, self.k_shot), slice(self.k_shot, None)
            return MetaTask(x[support], y[support], x[query], y[query], {"amplitude": amplitude, "phase": phase})
        classes = rng.choice(base.n_classes, self.n_way, replace=False)  # label i is classes[i]
        support, query = [], []
        for label, cls in enumerate(classes):
            rows = rng.choice(np.flatnonzero(base.y == cls), self.k_shot + self.n_query, replace=False)
            support += [(row, label) for row in rows[: self.k_shot]]
            query += [(row, label) for row in rows[self.k_shot :]]
        s_rows, s_y = np.array(support).T
        q_rows, q_y = np.array(query).T
        params = {"classes": classes.tolist(), "support_rows": s_rows, "query_rows": q_rows}  # rows of the split
        return MetaTask(base.x[s_rows], s_y, base.x[q_rows], q_y, params)


def sine(base: str, k_shot: int = 10, n_query: int = 10) -> TaskDistribution:
    """Sine regression (MAML's): y = A sin(x - phase), A ~ U[0.1, 5], phase ~ U[0, pi], the
    inputs drawn from the base task's (x in [-5, 5])."""
    if k_shot < 1 or n_query < 1:
        raise ValueError(f"k_shot and n_query must be >= 1; got {k_shot} and {n_query}")
    return TaskDistribution(base, "sine", k_shot, n_query)


def few_shot(base: str, n_way: int = 5, k_shot: int = 1, n_query: int = 5) -> TaskDistribution:
    """N-way K-shot classification: N of the base task's classes drawn per task, relabelled
    0..N-1 in the order drawn; K support and ``n_query`` query examples per class, disjoint."""
    data = [load_task(base, s) for s in ("train", "val", "test")]
    n_classes = data[0].n_classes
    if not 2 <= n_way <= n_classes:
        raise ValueError(f"n_way must be in [2, {n_classes}] for {n_classes} classes; got {n_way}")
    fewest = min(int(np.bincount(d.y, minlength=n_classes).min()) for d in data)
    if k_shot < 1 or n_query < 1 or k_shot + n_query > fewest:
        raise ValueError(
            f"k_shot + n_query must be in [2, {fewest}] (the rarest class of a split); got {k_shot} + {n_query}"
        )
    return TaskDistribution(base, "few-shot", k_shot, n_query, n_way=n_way)


COMMON_FAMILIES: dict[str, Any] = {"kfold": fold_task}
"""Families every task has, beside its own: ``kfold`` (:mod:`supervised.crossval`)."""


def build_family(
    task: str, family: str | None, kwargs: dict[str, Any]
) -> TaskSequence | TaskVariant | TaskDistribution | FoldTask | None:
    """The family ``family`` of ``task`` built with ``kwargs`` (None when ``family`` is None);
    ValueError naming the task's families, or the family's parameters, when they do not fit."""
    spec = get_task(task)
    families = {**spec.families, **{name: partial(f, task) for name, f in COMMON_FAMILIES.items()}}
    if family is None:
        if kwargs:
            raise ValueError(
                f"unexpected env kwargs {', '.join(sorted(kwargs))} for task {task!r}; family kwargs need "
                f"family=NAME ({', '.join(families)})"
            )
        return None
    if family not in families:
        raise ValueError(f"task {task!r} has no family {family!r}; its families: {', '.join(families)}")
    factory = families[family]
    accepted = [name for name in inspect.signature(factory).parameters if name != "base"]
    unknown = sorted(set(kwargs) - set(accepted))
    if unknown:
        raise ValueError(f"family {family!r} takes {', '.join(accepted)}; got {', '.join(unknown)}")
    return factory(**kwargs)
