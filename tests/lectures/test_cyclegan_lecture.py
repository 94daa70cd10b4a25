"""The cyclegan lecture's pass condition fails when any of its three parts does."""

from __future__ import annotations

import pytest

from lectures import cyclegan
from lectures.runner import Table, Trial


def table(kept: float, frechet: float, cycle_only_kept: float) -> Table:
    figures = {
        "untranslated": {"kept": 0.77, "frechet": 172.0},
        "cycle + identity": {"kept": kept, "frechet": frechet},
        "cycle only": {"kept": cycle_only_kept, "frechet": 140.0},
    }
    return Table([Trial(figures, [], [])])


@pytest.mark.parametrize(
    ("kept", "frechet", "cycle_only_kept", "held"),
    [(0.86, 29.0, 0.10, True), (0.75, 29.0, 0.10, False), (0.86, 90.0, 0.10, False), (0.86, 29.0, 0.60, False)],
)
def test_cyclegan_condition(kept, frechet, cycle_only_kept, held):
    assert cyclegan.condition(table(kept, frechet, cycle_only_kept)) is held
