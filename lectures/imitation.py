"""Lecture: imitation learning (behaviour cloning and GAIL from a few expert episodes).

Claim: from 10 episodes of an expert on CartPole-v1, behaviour cloning (supervised learning of
the expert's action) plays at least 0.9 of the expert's return, and GAIL (PPO on a
discriminator's reward, never the env's) learns to balance from those episodes alone: the env's
return of its last 20 training episodes is at least 5x that of its first 20. In quick mode
(30,000 steps) GAIL does not yet match the expert on every seed; full mode (the gail preset's
300,000 steps) is where bench.imitation measures it at >= 0.95 of the expert.

Per seed: the expert is a gymlab PPO run (30,000 steps in quick mode, the ppo preset's 100,000
in full mode); it plays 10 deterministic episodes, saved as a demos file
(:mod:`envs.demos`). Arms, each a run trained from that file only:

- ``expert``: the PPO run itself;
- ``BC``: :class:`agents.imitation.BC` (the supervised learner on the demos, its ``bc`` preset);
- ``GAIL``: :class:`agents.imitation.GAIL` (30,000 env steps in quick mode, the ``gail``
  preset's 300,000 in full mode).

Figures: ``return`` (mean over ``EVAL_EPISODES`` deterministic episodes from fixed seeds that
the demos never saw), ``fraction`` (of the expert's return on the same episodes) and, for the
expert, ``demo_return`` (its return in the 10 recorded episodes); for GAIL ``first_train_return``
and ``last_train_return`` (the env's return of its first and last ``WINDOW`` training episodes,
from the run's episodes.csv).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

import envs
from agents.imitation import BC, GAIL
from agents.ppo import PPO
from agents.runs import EPISODES
from envs.demos import record_demos, save_demos
from lectures.runner import Lecture, Panel, Table, Trial, register

ENV_ID = "CartPole-v1"
DEMO_EPISODES = 10
EVAL_EPISODES = 10
EVAL_SEED = 10_000
"""evaluation episodes start from EVAL_SEED, EVAL_SEED + 1, ... (the demos from seed * 100)"""
QUICK_STEPS = 30_000
"""the expert's and GAIL's env steps in quick mode"""
WINDOW = 20
"""training episodes averaged at the start and at the end of GAIL's run"""


def experiment(quick: bool, seed: int, out: Path) -> Trial:
    """One seed: train the expert, record its demos, clone them (BC) and imitate them (GAIL)."""
    steps = {"total_steps": QUICK_STEPS} if quick else {}
    expert = PPO(ENV_ID, seed=seed, device="cpu", **steps)
    expert.learn(run_dir=out / "expert")
    env = envs.make_env(ENV_ID)
    demos = record_demos(env, expert.policy_fn(), DEMO_EPISODES, ENV_ID, seed=seed * 100)
    env.close()
    demos_path = save_demos(demos, out / "demos.npz")
    learners = {"expert": expert}
    learners["BC"] = BC(ENV_ID, seed=seed, device="cpu", demos=str(demos_path))
    learners["BC"].learn(run_dir=out / "bc")
    learners["GAIL"] = GAIL(ENV_ID, seed=seed, device="cpu", demos=str(demos_path), **steps)
    learners["GAIL"].learn(run_dir=out / "gail")
    returns = {arm: agent.evaluate(EVAL_EPISODES, seed=EVAL_SEED)["mean_reward"] for arm, agent in learners.items()}
    figures = {arm: {"return": value, "fraction": value / returns["expert"]} for arm, value in returns.items()}
    figures["expert"]["demo_return"] = demos.expert_return
    episodes = np.loadtxt(out / "gail" / EPISODES, delimiter=",", skiprows=1, ndmin=2)  # (E, 3): step, return, length
    figures["GAIL"]["first_train_return"] = float(episodes[:WINDOW, 1].mean())
    figures["GAIL"]["last_train_return"] = float(episodes[-WINDOW:, 1].mean())
    steps = episodes[:, 0]
    lines = {"GAIL training episodes": (steps, episodes[:, 1]),
             "expert (demos)": ([steps[0], steps[-1]], [demos.expert_return] * 2)}  # fmt: skip
    panels = [Panel("CartPole-v1: the env's return of GAIL's training episodes", lines, "step", "return")]
    return Trial(figures, panels, [str(out / name) for name in ("expert", "bc", "gail")])


def condition(table: Table) -> bool:
    """Means over seeds: BC's fraction of the expert's return >= 0.9; GAIL's last training
    episodes' return >= 5x its first ones'."""
    return table.mean("BC", "fraction") >= 0.9 and table.mean("GAIL", "last_train_return") >= 5 * table.mean(
        "GAIL", "first_train_return"
    )


LECTURE = register(
    Lecture(
        name="imitation",
        homework="Imitation learning (behaviour cloning, inverse RL / GAIL)",
        claim="From 10 expert episodes on CartPole-v1, behaviour cloning plays >= 0.9 of the expert's return, and "
        "GAIL, which never sees the env's reward, learns to balance from them (training return up >= 5x).",
        arms=("expert", "BC", "GAIL"),
        experiment=experiment,
        condition=condition,
        condition_text="means: BC return >= 0.9 x the expert's on the same evaluation episodes; GAIL's last 20 "
        "training episodes' return >= 5 x its first 20's",
    )
)
