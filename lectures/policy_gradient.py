"""Lecture: policy gradient (HW12: REINFORCE lands the lunar lander).

Claim: REINFORCE (the course's HW12 algorithm: whole episodes, returns-to-go, a learned
baseline) raises LunarLander's return far above what its untrained policy -- random play --
scores: in 40,000 steps (quick) by at least 80 on HW12's test. Full mode trains the learner's
preset (2 million steps) and reports which of the course's grading tiers (0 / 100 / 200 / 241)
its test return reaches.

HW12's test protocol: ``TEST_EPISODES`` episodes with sampled (not greedy) actions, from the
fixed seeds ``TEST_SEED``, ``TEST_SEED + 1``, ...; the figure is their mean return.

Arms: ``untrained`` (the REINFORCE learner before its first update: its policy network's
actions are nearly uniform, i.e. random play) and ``REINFORCE`` (the same learner after
``learn``, a gymlab run). Figures: ``test_return`` (HW12's test), ``tiers`` (how many of the
tiers the test return reaches), ``train_return`` (mean return of the last 100 training
episodes) and ``steps``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from agents.reinforce import Reinforce
from agents.runs import EPISODES
from lectures.runner import Lecture, Panel, Table, Trial, register

ENV_ID = "LunarLander-v3"
TIERS = (0.0, 100.0, 200.0, 241.0)
"""HW12's grading tiers on the mean test return"""
TEST_EPISODES = 5
TEST_SEED = 543
"""HW12's seed"""
QUICK_STEPS = 40_000
RISE = 80.0
"""the quick claim: REINFORCE's test return at least this far above the untrained policy's"""


def tiers_reached(test_return: float) -> int:
    """How many of :data:`TIERS` ``test_return`` reaches."""
    return sum(test_return >= tier for tier in TIERS)


def hw12_test(agent: Reinforce) -> float:
    """HW12's test: mean return of TEST_EPISODES episodes with sampled actions from fixed seeds."""
    return agent.evaluate(TEST_EPISODES, deterministic=False, seed=TEST_SEED)["mean_reward"]


def experiment(quick: bool, seed: int, out: Path) -> Trial:
    """One seed: HW12's test of the untrained policy, training into a run, the test again."""
    agent = Reinforce(ENV_ID, seed=seed, device="cpu", **({"total_steps": QUICK_STEPS} if quick else {}))
    before = hw12_test(agent)
    run_dir = out / "reinforce"
    agent.learn(run_dir=run_dir)
    after = hw12_test(agent)
    figures = {
        "untrained": {"test_return": before, "tiers": tiers_reached(before), "steps": 0},
        "REINFORCE": {"test_return": after, "tiers": tiers_reached(after),
                      "train_return": agent.episodes.mean_return(), "steps": agent.num_timesteps},
    }  # fmt: skip
    episodes = np.loadtxt(run_dir / EPISODES, delimiter=",", skiprows=1, ndmin=2)  # (E, 3): step, return, length
    window = min(20, len(episodes))
    smoothed = np.convolve(episodes[:, 1], np.ones(window) / window, mode="valid")
    steps = episodes[window - 1 :, 0]
    lines = {f"training return (mean of {window})": (steps, smoothed)}
    lines.update({f"tier {tier:g}": ([steps[0], steps[-1]], [tier, tier]) for tier in TIERS})
    panels = [Panel("LunarLander-v3: REINFORCE's training episodes", lines, "step", "return")]
    return Trial(figures, panels, [str(run_dir)])


def condition(table: Table) -> bool:
    """Mean over seeds: REINFORCE's HW12 test return at least RISE above the untrained policy's."""
    return table.mean("REINFORCE", "test_return") >= table.mean("untrained", "test_return") + RISE


LECTURE = register(
    Lecture(
        name="policy-gradient",
        homework="HW12: reinforcement learning (REINFORCE on LunarLander, tiers 0 / 100 / 200 / 241)",
        claim=f"REINFORCE raises LunarLander's HW12 test return (5 sampled episodes, fixed seeds) at least {RISE:g} "
        "above random play's within 40,000 steps; full mode (2e6 steps) reports the tiers it reaches.",
        arms=("untrained", "REINFORCE"),
        experiment=experiment,
        condition=condition,
        condition_text=f"mean HW12 test return: REINFORCE >= untrained + {RISE:g}",
    )
)
