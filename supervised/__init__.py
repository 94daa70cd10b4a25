"""The lectures' data: the task registry (one declaration per task), the kinds of prediction, and
the task families built on tasks (sequences for lifelong learning, distributions for meta-learning).

    from supervised import load_task, register_task
    register_task("wine", load=lambda: load_wine(return_X_y=True), kind="classification", standardise=True)
    load_task("wine", "test").x  # gymlab/Wine-v0 is now an env too
"""

from supervised import tasks as _tasks  # noqa: F401  (declares the built-in tasks)
from supervised.kinds import KINDS, Kind, get_kind
from supervised.registry import SPLITS, TASKS, Dataset, TaskSpec, get_task, load_task, register_task

__all__ = [
    "KINDS",
    "SPLITS",
    "TASKS",
    "Dataset",
    "Kind",
    "TaskSpec",
    "get_kind",
    "get_task",
    "load_task",
    "register_task",
]
