"""The adversarial lecture's pass condition on hand-made tables: the digits bars in both modes, and
in full mode the PGD-trained CNN's 0.75 bar and the CartPole attack that must beat noise."""

import pytest

from lectures.adversarial import condition
from lectures.runner import Table, Trial

QUICK = {
    "CNN": {"clean": 0.99, "fgsm": 0.1, "ifgsm": 0.02, "transfer_ifgsm": 0.2},
    "CNN adv-trained": {"clean": 0.97, "ifgsm": 0.5},
}


def full_figures(defended_ifgsm=0.76, defended_clean=0.98, random_target=(500.0, 450.0, 50.0)) -> dict:
    figures = {arm: dict(values) for arm, values in QUICK.items()}
    figures["CNN adv-trained"].update(ifgsm=defended_ifgsm, clean=defended_clean)
    returns = ("return_eps0", "return_eps0.05", "return_eps0.1")
    figures["PPO CartPole: fgsm"] = dict(zip(returns, (500.0, 500.0, 500.0)))  # myopic: shown, not judged
    figures["PPO CartPole: pgd random target"] = dict(zip(returns, random_target))
    figures["PPO CartPole: noise"] = dict(zip(returns, (500.0, 500.0, 250.0)))
    return figures


def holds(figures: dict) -> bool:
    return condition(Table([Trial(figures)]))


def test_quick_mode_judges_the_digits_only():
    assert holds(QUICK)
    assert not holds({**QUICK, "CNN adv-trained": {"clean": 0.94, "ifgsm": 0.5}})  # 5 points of clean cost


@pytest.mark.parametrize(
    "settings, expected",
    [
        ({}, True),
        ({"defended_ifgsm": 0.74}, False),  # under HW10's 75% bar
        ({"defended_clean": 0.96}, False),  # 3 points of clean cost
        ({"random_target": (500.0, 500.0, 50.0)}, True),  # a tie with noise at eps 0.05 is allowed
        ({"random_target": (500.0, 450.0, 250.0)}, False),  # no worse than noise at eps 0.1
        ({"random_target": (500.0, 501.0, 50.0)}, False),
    ],
)
def test_full_mode_adds_the_pgd_trained_bar_and_the_cartpole_attack(settings, expected):
    assert holds(full_figures(**settings)) is expected
