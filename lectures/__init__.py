"""The course's claims as experiments: one file per lecture, run by ``gymlab lecture NAME``.

Each lecture file declares a :class:`~lectures.runner.Lecture` and registers it; the registry
(:data:`LECTURES`, filled by :func:`discover`) is the only list of lectures there is.
"""

from lectures.runner import (
    LECTURES,
    Lecture,
    LectureResult,
    Panel,
    Table,
    Trial,
    discover,
    get_lecture,
    register,
    run_lecture,
)

__all__ = [
    "LECTURES",
    "Lecture",
    "LectureResult",
    "Panel",
    "Table",
    "Trial",
    "discover",
    "get_lecture",
    "register",
    "run_lecture",
]
