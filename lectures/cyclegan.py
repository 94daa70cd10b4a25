"""Lecture: CycleGAN (HW6's unpaired translation: digits drawn in bold, and back).

Claim: with no pair of images showing one digit in both styles, CycleGAN (two translators, two
discriminators, the cycle-consistency and identity losses) draws the digits in bold so that a
classifier of bold digits reads their own label on more of them than on the untranslated digits,
and their Fréchet distance to real bold digits (in that classifier's features) is at most half
the untranslated digits'. With the cycle loss alone the translators are free to swap digits (a
3 drawn as a bold 5 comes back as a 3): the label survives on fewer than half of them.

Arms: ``untranslated`` (the source test digits as they are), ``cycle + identity`` (the
``cyclegan`` learner, agents.cyclegan, with its default identity_weight=5) and ``cycle only``
(identity_weight=0). Source gymlab/Digits-v0, target digits-thick (the same digits in bold,
whose labels no arm uses). Figures (test splits): ``kept`` (fraction of translated digits that
the bold-digits classifier reads as their label), ``frechet`` (to real bold digits) and, for
the trained arms, ``kept_back`` (bold digits translated back, read by a digits classifier) and
``cycle_error`` (mean absolute error of a round trip). The plot: one test digit of each class
and its bold drawing by each trained arm.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from agents.cyclegan import CycleGAN
from lectures.runner import Lecture, Panel, Table, Trial, register
from supervised.registry import load_task

SOURCE, TARGET = "gymlab/Digits-v0", "digits-thick"
STEPS = {True: 60_000, False: 150_000}  # quick, full: source images drawn


def experiment(quick: bool, seed: int, out: Path) -> Trial:
    """One seed: the translators trained with and without the identity loss, judged on the test splits."""
    figures, runs = {}, []
    test = load_task("digits", "test")
    examples = test.x[[int(np.flatnonzero(test.y == digit)[0]) for digit in range(10)]]  # (10, 1, 8, 8)
    rows = {"digits (test)": examples}
    for arm, identity_weight in (("cycle + identity", 5.0), ("cycle only", 0.0)):
        run = out / arm.replace(" + ", "-").replace(" ", "-")
        agent = CycleGAN(SOURCE, seed=seed, target=TARGET, identity_weight=identity_weight, total_steps=STEPS[quick],
                         checkpoint_every=STEPS[quick])  # fmt: skip
        agent.learn(run_dir=run)
        runs.append(str(run))
        stats = agent.evaluate()
        figures[arm] = {"kept": stats["kept_to_target"], "frechet": stats["frechet_to_target"],
                        "kept_back": stats["kept_to_source"], "cycle_error": stats["cycle_error"]}  # fmt: skip
        figures["untranslated"] = {"kept": stats["raw_to_target"], "frechet": stats["frechet_raw"]}
        with torch.no_grad():
            rows[arm] = agent.translate(torch.from_numpy(examples.copy())).numpy()
    return Trial(figures, [Panel("digits drawn in bold", image_rows=rows)], runs)


def condition(table: Table) -> bool:
    """Means: cycle + identity keeps more labels than the untranslated digits and halves their
    Fréchet distance; cycle only keeps fewer than half."""
    return (
        table.mean("cycle + identity", "kept") > table.mean("untranslated", "kept")
        and table.mean("cycle + identity", "frechet") <= 0.5 * table.mean("untranslated", "frechet")
        and table.mean("cycle only", "kept") < 0.5
    )


LECTURE = register(
    Lecture(
        name="cyclegan",
        homework="HW6: unpaired translation (CycleGAN, digits to bold digits)",
        claim="Unpaired, CycleGAN draws digits in bold that a bold-digits classifier reads as their own label more "
        "often than the untranslated digits, at half their Fréchet distance or less; the cycle loss alone swaps "
        "digits (fewer than half keep their label).",
        arms=("untranslated", "cycle + identity", "cycle only"),
        experiment=experiment,
        condition=condition,
        condition_text="means: cycle + identity kept > untranslated kept, frechet <= 0.5 x untranslated; "
        "cycle only kept < 0.5",
    )
)
