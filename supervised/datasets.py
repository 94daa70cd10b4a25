"""The names older code imports (``from supervised.datasets import load_task``); the registry lives
in :mod:`supervised.registry`, the built-in tasks in :mod:`supervised.tasks`."""

from supervised import tasks as _tasks  # noqa: F401  (declares the built-in tasks)
from supervised.registry import SPLITS, TASKS, Dataset, check_split, load_task, split_indices
from supervised.tasks import PIECEWISE_NOISE, piecewise_curve, sequence_labels

__all__ = ["PIECEWISE_NOISE", "SPLITS", "TASKS", "Dataset", "check_split", "load_task", "piecewise_curve",
           "sequence_labels", "split_indices"]  # fmt: skip
