"""Lecture: meta-learning (HW15: learning to learn, MAML).

Claim: on MAML's sine regression (y = A sin(x - phase), A in [0.1, 5], phase in [0, pi], 10
support examples), after one inner gradient step the query MSE is ordered MAML < first-order
MAML < a network pretrained on every task at once; MAML's initialisation is the one meant to
be adapted.

Arms (the ``maml`` learner of agents.maml on ``gymlab/Sine-v0`` with ``family=sine``, the same
MLP 40-40, meta-batch 25, inner lr 0.01 and meta-iterations; only ``algo`` changes):

- ``MAML``: algo=maml, one second-order inner step;
- ``FOMAML``: algo=fomaml, the inner gradient taken as a constant;
- ``pretrained``: algo=pretrain, one network fit to the examples of every task.

Figures: the test tasks' query MSE before adaptation (``mse_step0``), after one inner step
(``mse_step1``, the claim) and after ten (``mse_step10``), over the same 100 test tasks for every
arm. The plot shows the adaptation curves (query MSE against inner steps).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from agents.maml import MAML
from lectures.runner import Lecture, Panel, Table, Trial, register

SINE = {"family": "sine", "k_shot": 10, "n_query": 10}
ARMS = {"MAML": "maml", "FOMAML": "fomaml", "pretrained": "pretrain"}
EXAMPLES_PER_ITERATION = 25 * 20  # meta-batch x (support + query)


def experiment(quick: bool, seed: int, out: Path) -> Trial:
    """One seed: every arm meta-trained for the same iterations, then adapted on the test tasks."""
    iterations = 700 if quick else 3000
    figures, curves, runs = {}, {}, []
    for arm, algo in ARMS.items():
        agent = MAML("gymlab/Sine-v0", seed=seed, env_kwargs=SINE, algo=algo, inner_steps=1, inner_lr=0.01,
                     total_steps=iterations * EXAMPLES_PER_ITERATION, checkpoint_every=iterations * EXAMPLES_PER_ITERATION)  # fmt: skip
        agent.learn(run_dir=out / arm)
        runs.append(str(out / arm))
        curve = agent.curve("test", seed=seed)  # (11,): query MSE after 0..10 inner steps
        curves[arm] = (np.arange(len(curve)), curve)
        figures[arm] = {"mse_step0": curve[0], "mse_step1": curve[1], "mse_step10": curve[10]}
    panels = [Panel("query MSE while adapting to a test task", curves, xlabel="inner SGD steps", ylabel="query MSE")]
    return Trial(figures, panels, runs)


def condition(table: Table) -> bool:
    """Mean query MSE after one step: MAML < FOMAML < pretrained."""
    maml, fomaml, pretrained = (table.mean(arm, "mse_step1") for arm in ARMS)
    return maml < fomaml < pretrained


LECTURE = register(
    Lecture(
        name="meta-learning",
        homework="HW15: meta-learning",
        claim="On sine regression with 10 examples, after one inner step the query MSE is ordered "
        "MAML < first-order MAML < a network pretrained on all tasks.",
        arms=tuple(ARMS),
        experiment=experiment,
        condition=condition,
        condition_text="mean query MSE after one inner step over 100 test tasks: MAML < FOMAML < pretrained",
    )
)
