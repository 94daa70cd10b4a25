"""Lecture: GAN (HW6: a generator trained against a discriminator draws digits).

Claim: training the GAN learner on the 8x8 digits moves its samples towards real digits in the
judge's eyes: the Fréchet distance of its samples (to the real training digits, in the features
of a CNN classifier trained on them) falls to at most half of the untrained generator's, and
its samples are recognised as more kinds of digit. Conditioned on the class (a conditional GAN),
the generator draws the digit it is asked for: the judge agrees with the condition on at least
90% of its samples.

Arms: ``untrained`` (the GAN learner's generator before its first update: the same network and
seed) and ``trained`` (the same learner after ``learn``, a gymlab run with its sample grid in
``RUN_DIR/samples.png``), and ``conditional`` (the learner with ``conditional=true``: generator
and discriminator read the class; its sample grid has one column per digit). All are scored by :meth:`agents.gan.GAN.evaluate`
(:mod:`agents.gan_eval`): ``frechet_distance``; for scale, ``frechet_floor`` (real held-out
digits) and ``frechet_noise`` (uniform noise); ``classes_generated`` (digits the judge sees
among the samples) and ``confident_fraction`` (samples it classifies with probability >= 0.9);
for the conditional arm ``condition_agreement`` (samples classified as the digit they were drawn
for, 100 per digit).

Settings: the non-saturating loss with a gradient penalty, Adam (0.5, 0.9) and the moving
average of the generator's weights, as the learner's Digits preset; quick mode uses 256-unit
networks, a learning rate of 3e-3 and an average of decay 0.9 to get far in 30,000 real
examples (470 updates); full mode uses the preset's 512-unit networks for 300,000. The
conditional arm uses the quick settings for 90,000 real examples in both modes (about 10
CPU-seconds a seed).
"""

from __future__ import annotations

from pathlib import Path

from agents.gan import GAN
from lectures.runner import Lecture, Table, Trial, register

ENV_ID = "gymlab/Digits-v0"
FIGURES = ("frechet_distance", "frechet_floor", "frechet_noise", "classes_generated", "confident_fraction")
QUICK = {"total_steps": 30_000, "hidden": [256, 256], "disc_hidden": [256, 256], "learning_rate": 3e-3,
         "disc_learning_rate": 3e-3, "ema_decay": 0.9}  # fmt: skip
FULL = {"total_steps": 300_000}
CONDITIONAL = {**QUICK, "total_steps": 90_000, "conditional": True}


def experiment(quick: bool, seed: int, out: Path) -> Trial:
    """One seed: score the untrained generator, train it into a run, score it again."""
    agent = GAN(ENV_ID, seed=seed, device="cpu", **(QUICK if quick else FULL))
    before = agent.evaluate()
    agent.learn(run_dir=out / "gan")
    after = agent.evaluate()
    conditional = GAN(ENV_ID, seed=seed, device="cpu", **CONDITIONAL)
    conditional.learn(run_dir=out / "conditional")
    drawn = conditional.evaluate()
    figures = {
        arm: {name: stats[name] for name in FIGURES} for arm, stats in (("untrained", before), ("trained", after))
    }
    figures["conditional"] = {name: drawn[name] for name in (*FIGURES, "condition_agreement")}
    return Trial(figures, [], [str(out / "gan"), str(out / "conditional")])


def condition(table: Table) -> bool:
    """Means: the trained generator's Fréchet distance <= 0.5 x the untrained one's, its samples
    span more classes, and the conditional generator's samples agree with their class >= 90%."""
    return (
        table.mean("trained", "frechet_distance") <= 0.5 * table.mean("untrained", "frechet_distance")
        and table.mean("trained", "classes_generated") > table.mean("untrained", "classes_generated")
        and table.mean("conditional", "condition_agreement") >= 0.9
    )


LECTURE = register(
    Lecture(
        name="gan",
        homework="HW6: generative adversarial network (digits)",
        claim="Training the GAN on the digits halves (at least) the Fréchet distance of its samples to real digits "
        "from the untrained generator's, and its samples span more digit classes; conditioned on the class, "
        ">= 90% of its samples are the asked-for digit.",
        arms=("untrained", "trained", "conditional"),
        experiment=experiment,
        condition=condition,
        condition_text="means: trained Fréchet distance <= 0.5 x untrained; trained classes generated > untrained; "
        "conditional condition_agreement >= 0.9",
    )
)
