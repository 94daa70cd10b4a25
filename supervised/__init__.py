"""The lectures' data and lecture-specific methods; for now, the supervised tasks."""

from supervised.datasets import SPLITS, TASKS, Dataset, load_task

__all__ = ["SPLITS", "TASKS", "Dataset", "load_task"]
