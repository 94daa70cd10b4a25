"""Supervised runs as the lectures train them: one gymlab run directory per arm and seed.

Every arm of a supervised lecture is an ordinary run of :class:`agents.supervised.Supervised`
(``gymlab eval/record/board RUN`` work on it); these functions train one and read its scores.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from agents.supervised import Supervised


def train_run(env_id: str, seed: int, run_dir: Path, **settings: Any) -> Supervised:
    """Train the supervised learner on ``env_id`` with ``settings`` (config fields, on top of the
    task's preset) into ``run_dir`` on the CPU, as ``gymlab train`` would; the trained learner."""
    agent = Supervised(env_id, seed=seed, device="cpu", **settings)
    agent.learn(run_dir=run_dir)
    return agent


def split_scores(agent: Supervised, splits: tuple[str, ...] = ("train", "val", "test")) -> dict[str, float]:
    """The kind's metric (``accuracy`` or ``mse``) and the loss of ``agent`` on every split:
    ``{"train_mse": ..., "train_loss": ..., "val_mse": ...}``."""
    metric = agent.train_set.kind.metric
    figures = {}
    for split in splits:
        scores = agent.score_split(split)
        figures[f"{split}_{metric}"] = float(scores[metric])
        if metric != "mse":
            figures[f"{split}_loss"] = float(scores["loss"])
    return figures


def parameter_count(agent: Supervised) -> int:
    """Trainable parameters of the learner's network."""
    return sum(p.numel() for p in agent.model.parameters() if p.requires_grad)


def run_curve(run_dir: Path, tag: str) -> tuple[list[int], list[float]]:
    """A scalar a run logged to TensorBoard (e.g. ``eval/accuracy``, once per epoch): (steps, values)."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(run_dir), size_guidance={"scalars": 0})
    events.Reload()
    scalars = events.Scalars(tag)
    return [s.step for s in scalars], [s.value for s in scalars]
