"""Training inside a run directory: what ``Agent.learn(run_dir=...)`` and ``gymlab train`` run.

TensorBoard logging (agents.logger), episodes.csv, periodic evaluation with the best model kept,
atomic checkpoints (agents.runs) at a steady cadence and on Ctrl-C, a progress bar on terminals,
and resuming a killed run from its newest checkpoint.
"""

from __future__ import annotations

import math
import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch
from tqdm import tqdm

from agents import runs
from agents.base import Agent
from agents.logger import RunLogger, last_evaluation_step


class Interrupted(KeyboardInterrupt):
    """Ctrl-C during training, after the checkpoint it saved at ``step`` (``checkpoint``)."""

    def __init__(self, run_dir: Path, step: int, checkpoint: Path):
        super().__init__(f"interrupted at step {step}; checkpoint {checkpoint}")
        self.run_dir, self.step, self.checkpoint = run_dir, step, checkpoint


def checkpoint_interval(agent: Agent) -> int:
    """Steps between checkpoints: the config's, or a tenth of the run."""
    return agent.config.checkpoint_every or max(1, agent.config.total_steps // 10)


EVAL_SEED = 1_000_000
"""Periodic evaluations reset episode i with ``seed + EVAL_SEED + i``: the same starts every time,
so evaluations compare the weights alone, and none of the training envs' seeds."""


class PeriodicEvaluation:
    """SB3's EvalCallback for ``gymlab train``: every ``eval_every`` steps, ``eval_episodes``
    deterministic episodes on an env of its own (a supervised env's val split, never test), logged
    as eval/* and to evaluations.csv; weights scoring above every earlier evaluation are written
    to checkpoints/best.pt, after a regular checkpoint at the same step (so a resumed run never
    goes back to before its best model). Training is unchanged by it (the torch RNG is restored
    afterwards)."""

    def __init__(self, agent: Agent, run_dir: Path, logger: RunLogger):
        self.every, self.episodes = agent.config.eval_every, agent.config.eval_episodes
        self.run_dir, self.logger = run_dir, logger
        # Due after the last evaluation logged (a resumed run's log is already trimmed to its
        # checkpoint): one that a kill or Ctrl-C cut short is made up for before training goes on.
        last = last_evaluation_step(run_dir) or 0
        self.next = (last // self.every + 1) * self.every if self.every else None
        best = runs.best_evaluation(run_dir) if self.every else None  # a resumed run keeps its best model
        self.best = best["mean_reward"] if best else -math.inf

    def __call__(self, agent: Agent) -> dict[str, float] | None:
        """Evaluate when due; returns the figures (None when not due)."""
        if self.next is None or agent.num_timesteps < self.next:
            return None
        self.next = (agent.num_timesteps // self.every + 1) * self.every
        devices = [agent.device] if agent.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):
            stats = agent.evaluate(self.episodes, deterministic=True, seed=agent.seed + EVAL_SEED, split="val")
        self.logger.evaluation(stats, agent.num_timesteps)
        if stats["mean_reward"] > self.best:
            self.best = stats["mean_reward"]
            self.logger.flush()
            runs.save_checkpoint(self.run_dir, agent)
            runs.save_best(self.run_dir, agent, stats)
        return stats


def run_training(agent: Agent, run_dir: Path, video: bool = False, quiet: bool = False) -> dict[str, float]:
    """Train ``agent`` inside ``run_dir`` (config.json already written): TensorBoard logging,
    episodes.csv, periodic atomic checkpoints, a progress bar on terminals. Ctrl-C saves a
    checkpoint before leaving. Returns the last iteration's metrics."""
    logger = RunLogger(run_dir, start_step=agent.num_timesteps)
    try:
        if agent.num_timesteps == 0:
            logger.hparams(runs.read_config(run_dir))
        agent.attach_run(run_dir, logger.writer)
        agent.open_envs(video_dir=run_dir / "videos" if video else None)
        return _train_loop(agent, run_dir, logger, quiet)
    finally:  # on success, Ctrl-C or any error: nothing is left open to write into run_dir
        logger.close()
        agent.close()


def _train_loop(agent: Agent, run_dir: Path, logger: RunLogger, quiet: bool) -> dict[str, float]:
    """The loop of :func:`run_training`: progress bar, logging, periodic evaluation, checkpoints
    (one at the end, and one on Ctrl-C before it propagates)."""
    evaluation = PeriodicEvaluation(agent, run_dir, logger)
    evaluation(agent)  # a resumed run's evaluation that was due but never logged
    every = checkpoint_interval(agent)
    next_checkpoint = (agent.num_timesteps // every + 1) * every
    bar = tqdm(
        total=agent.config.total_steps, initial=agent.num_timesteps, unit="step", unit_scale=True,
        dynamic_ncols=True, disable=True if quiet else None, file=sys.stderr,
    )  # fmt: skip
    last: dict[str, float] = {}
    last_flush = time.monotonic()

    def on_iteration(a: Agent, metrics: dict[str, float]) -> None:
        nonlocal next_checkpoint, last_flush
        bar.update(a.num_timesteps - bar.n)
        logger.iteration(a, metrics)
        evaluation(a)
        last.update(metrics)
        if a.episodes.returns:
            bar.set_postfix_str(f"ep_rew_mean={a.episodes.mean_return():.1f}", refresh=False)
        if a.num_timesteps >= next_checkpoint:
            logger.flush()
            runs.save_checkpoint(run_dir, a)
            next_checkpoint = (a.num_timesteps // every + 1) * every
        elif time.monotonic() - last_flush > 10:
            logger.flush()
            last_flush = time.monotonic()

    try:
        agent.learn(callback=on_iteration)
    except KeyboardInterrupt:
        logger.flush()
        path = runs.save_checkpoint(run_dir, agent)
        raise Interrupted(run_dir, agent.num_timesteps, path) from None
    finally:
        bar.close()
    logger.flush()
    runs.save_checkpoint(run_dir, agent)
    return last


def train_new(
    agent: Agent, run_dir: Path, video: bool = False, quiet: bool = True, record: dict | None = None
) -> dict[str, float]:
    """Train a new ``agent`` into ``run_dir`` (which must not hold a run yet): config.json first
    (plus ``record``'s entries), then :func:`run_training`. A failure before the first checkpoint
    removes the directory if this call created it, so no half-written run is left behind."""
    run_dir = Path(run_dir)
    if (run_dir / runs.CONFIG).exists():
        raise ValueError(
            f"{run_dir} already holds a run; pick another --run-dir or continue it with --resume {run_dir}"
        )
    created = not run_dir.exists()
    run_dir.mkdir(parents=True, exist_ok=True)
    try:
        runs.write_json(run_dir / runs.CONFIG, {**runs.run_config(agent), **(record or {})})
        return run_training(agent, run_dir, video, quiet)
    except BaseException:
        if created and not runs.has_checkpoint(run_dir):
            shutil.rmtree(run_dir, ignore_errors=True)
        raise


def resume(
    run_dir: Path,
    device: str | None = None,
    steps: int | None = None,
    video: bool = False,
    quiet: bool = True,
    eval_every: int | None = None,
    eval_episodes: int | None = None,
    on_start: Callable[[Agent], None] | None = None,
) -> tuple[Agent, dict[str, float]]:
    """Continue a run from its newest checkpoint, with every counter, optimizer state and RNG
    state restored; ``steps`` raises the step budget, ``eval_every``/``eval_episodes`` change the
    periodic evaluation (both kept in config.json). ``on_start(agent)`` runs once every check has
    passed, just before training goes on."""
    run_dir = Path(run_dir)
    config, agent = runs.load_run(run_dir, device, resume=True)
    if steps is not None and steps < agent.num_timesteps:
        raise ValueError(f"--steps {steps} is below the {agent.num_timesteps} steps already done")
    changes = {"total_steps": steps, "eval_every": eval_every, "eval_episodes": eval_episodes}
    changes = {k: v for k, v in changes.items() if v is not None}
    for key, value in changes.items():  # in place: the learner's parts may hold the config object
        setattr(agent.config, key, value)
    agent.config.check()
    if eval_episodes is not None and not agent.config.eval_every:
        raise ValueError("--eval-episodes needs periodic evaluation: add --eval-every STEPS")
    if agent.config.eval_every:
        runs.best_evaluation(run_dir)  # a damaged best.pt stops the resume here, before anything is written
    if changes:
        config["hyperparameters"].update(changes)
        runs.write_json(run_dir / runs.CONFIG, config)
    if on_start is not None:
        on_start(agent)
    return agent, run_training(agent, run_dir, video, quiet)
