"""Known answers for the domain-adaptation and gan lectures' pieces: the PCA of the feature plot,
and pass conditions that fail when one shift (or the conditional arm) misses its mark."""

from __future__ import annotations

import numpy as np
import pytest

from lectures import domain_adaptation, gan
from lectures.runner import Table, Trial


def test_pca_2d_finds_the_directions_of_largest_variance():
    rng = np.random.default_rng(0)
    points = rng.normal(size=(500, 3)) * [5.0, 0.1, 1.0]  # variance along x, then z, then y
    projected = domain_adaptation.pca_2d(points)
    assert projected.shape == (500, 2)
    assert abs(np.corrcoef(projected[:, 0], points[:, 0])[0, 1]) > 0.999  # PC 1 = x
    assert abs(np.corrcoef(projected[:, 1], points[:, 2])[0, 1]) > 0.99  # PC 2 = z
    np.testing.assert_allclose(projected.mean(axis=0), 0.0, atol=1e-9)


def domain_table(digits_dann: list[float]) -> Table:
    """Five seeds: moons DANN 10 points over source-only; digits source-only 0.58."""
    trials = []
    for seed, digits in enumerate(digits_dann):
        figures = {
            "moons source-only": {"target_acc": 0.80}, "moons DANN": {"target_acc": 0.90 + 0.01 * seed},
            "digits source-only": {"target_acc": 0.58}, "digits DANN": {"target_acc": digits},
        }  # fmt: skip
        trials.append(Trial(figures, [], []))
    return Table(trials)


def test_domain_adaptation_needs_both_shifts_to_gain_five_points():
    held = domain_table([0.70, 0.40, 0.66, 0.69, 0.20])  # median 0.66: +8 points despite two bad seeds
    assert domain_adaptation.gain(held, "digits") == pytest.approx(0.08)
    assert domain_adaptation.gain(held, "moons") == pytest.approx(0.12)
    assert domain_adaptation.condition(held)
    missed = domain_table([0.70, 0.60, 0.62, 0.69, 0.61])  # median 0.62: +4 points
    assert not domain_adaptation.condition(missed)


def test_gan_lecture_needs_the_conditional_arm_to_agree_on_90_percent():
    def table(agreement: float) -> Table:
        figures = {
            "untrained": {"frechet_distance": 1000.0, "classes_generated": 4.0},
            "trained": {"frechet_distance": 300.0, "classes_generated": 9.0},
            "conditional": {"frechet_distance": 20.0, "classes_generated": 10.0, "condition_agreement": agreement},
        }
        return Table([Trial(figures, [], [])])

    assert gan.condition(table(0.93)) and not gan.condition(table(0.85))
