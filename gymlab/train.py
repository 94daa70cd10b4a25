"""The training driver behind ``gymlab train``: build, log, checkpoint, resume."""

from __future__ import annotations

import contextlib
import math
import random
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

import agents
import envs
from agents.base import Agent
from gymlab import runs
from gymlab.config import build_config, parse_set, preset


def build_new(
    agent_name: str,
    env_id: str,
    seed: int = 0,
    device: str = "auto",
    sets: list[str] = (),
    steps: int | None = None,
    n_envs: int | None = None,
    eval_every: int | None = None,
    eval_episodes: int | None = None,
    env_kwargs: dict | None = None,
    init_from: Path | None = None,
) -> Agent:
    """An agent from its preset, ``--set`` overrides and flags, on ``env_id`` made with
    ``env_kwargs``, untrained or starting from the weights at ``init_from`` (:func:`start_from`);
    every bad input raises ValueError before anything is written."""
    cls = agents.agent_class(agent_name)
    envs.check_env_id(env_id)
    flags = {
        "total_steps": steps, "n_envs": n_envs, "eval_every": eval_every, "eval_episodes": eval_episodes,
    }  # fmt: skip
    flags = {k: v for k, v in flags.items() if v is not None}
    config = build_config(cls.Config, preset(agent_name, env_id), parse_set(list(sets)), flags)
    check_eval_flags(config, eval_episodes)
    agent = cls(env_id, config, seed=seed, device=device, env_kwargs=env_kwargs)
    if init_from is not None:
        start_from(agent, Path(init_from))
    return agent


def start_from(agent: Agent, source: Path) -> None:
    """``--init-from``: give a new run's actor-critic the weights (and normalisation statistics) of
    another run's newest checkpoint, or of an SB3 PPO/A2C model .zip (rl-baselines3-zoo's
    ``--trained-agent``). Only the network: the optimizer, counters and schedules start afresh,
    and the run's random streams and thread count stay its own."""
    from gymlab.sb3 import from_sb3, is_sb3_model

    if not source.exists():
        raise ValueError(f"--init-from {source} does not exist; pass a gymlab run directory or an SB3 .zip")
    with own_process_state(agent):  # loading the source seeds and sets threads for the source
        if is_sb3_model(source):
            from_sb3(agent, source)
            return
        _, other = runs.load_run(source, "cpu")
    if not (hasattr(agent, "policy") and hasattr(other, "policy")):
        raise ValueError(f"--init-from copies an actor-critic; {other.name} and {agent.name} do not both have one")
    spaces, theirs = (agent.observation_space, agent.action_space), (other.observation_space, other.action_space)
    if spaces != theirs:
        shown = envs.make.space_text
        raise ValueError(
            f"{source} was trained on {other.env_id}, observing {shown(theirs[0])} and acting in {shown(theirs[1])}; "
            f"this run observes {shown(spaces[0])} and acts in {shown(spaces[1])}"
        )
    layout = ["hidden", "activation", "shared", "use_sde", "normalize_obs", "normalize_reward"]
    if agent.config.normalize_reward:  # the reward statistics are of returns discounted with gamma
        layout.append("gamma")

    def text(value) -> str:  # as --set takes it
        return ",".join(map(str, value)) if isinstance(value, list) else str(value).lower()

    for key in layout:
        mine, wanted = getattr(agent.config, key), getattr(other.config, key)
        if mine != wanted:
            raise ValueError(
                f"{source} was trained with {key}={text(wanted)}, this run {key}={text(mine)}; "
                f"train with --set {key}={text(wanted)}"
            )
    try:
        agent.policy.load_state_dict(other.policy.state_dict())
    except RuntimeError as e:
        raise ValueError(
            f"the network of {source} does not fit this run's ({' '.join(str(e).split())[:160]})"
        ) from None
    if agent.reward_scaler is not None:
        agent.reward_scaler.rms.load_state_dict(other.reward_scaler.rms.state_dict())


@contextlib.contextmanager
def own_process_state(agent: Agent):
    """Restore the global random streams (torch, numpy, Python) and torch's thread count after
    the block: building another learner, or loading an SB3 model, seeds them for itself."""
    threads, python, legacy = torch.get_num_threads(), random.getstate(), np.random.get_state()
    devices = [agent.device] if agent.device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        try:
            yield
        finally:
            torch.set_num_threads(threads)
            random.setstate(python)
            np.random.set_state(legacy)


def check_eval_flags(config, eval_episodes: int | None) -> None:
    """--eval-episodes without periodic evaluation would do nothing: say so."""
    if eval_episodes is not None and not config.eval_every:
        raise ValueError("--eval-episodes needs periodic evaluation: add --eval-every STEPS")


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

    def __init__(self, agent: Agent, run_dir: Path, logger: runs.RunLogger):
        self.every, self.episodes = agent.config.eval_every, agent.config.eval_episodes
        self.run_dir, self.logger = run_dir, logger
        # Due after the last evaluation logged (a resumed run's log is already trimmed to its
        # checkpoint): one that a kill or Ctrl-C cut short is made up for before training goes on.
        last = runs.last_evaluation_step(run_dir) or 0
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
    logger = runs.RunLogger(run_dir, start_step=agent.num_timesteps)
    try:
        if agent.num_timesteps == 0:
            logger.hparams(runs.read_config(run_dir))
        agent.attach_run(run_dir, logger.writer)
        agent.open_envs(video_dir=run_dir / "videos" if video else None)
        return _train_loop(agent, run_dir, logger, quiet)
    finally:  # on success, Ctrl-C or any error: nothing is left open to write into run_dir
        logger.close()
        agent.close()


def _train_loop(agent: Agent, run_dir: Path, logger: runs.RunLogger, quiet: bool) -> dict[str, float]:
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
        runs.save_checkpoint(run_dir, agent)
        raise
    finally:
        bar.close()
    logger.flush()
    runs.save_checkpoint(run_dir, agent)
    return last


def train(
    agent_name: str,
    env_id: str,
    seed: int = 0,
    device: str = "auto",
    sets: list[str] = (),
    steps: int | None = None,
    n_envs: int | None = None,
    run_dir: Path | None = None,
    video: bool = False,
    quiet: bool = False,
    eval_every: int | None = None,
    eval_episodes: int | None = None,
    env_kwargs: dict | None = None,
    init_from: Path | None = None,
) -> tuple[Path, Agent, dict[str, float]]:
    """``gymlab train``: a new run. A failure before the first checkpoint removes the run
    directory it created, so no half-written run is left behind."""
    agent = build_new(
        agent_name, env_id, seed, device, sets, steps, n_envs, eval_every, eval_episodes, env_kwargs, init_from
    )
    run_dir = Path(run_dir) if run_dir else runs.default_run_dir(env_id, agent_name, seed)
    if (run_dir / runs.CONFIG).exists():
        raise ValueError(
            f"{run_dir} already holds a run; pick another --run-dir or continue it with --resume {run_dir}"
        )
    created = not run_dir.exists()
    run_dir.mkdir(parents=True, exist_ok=True)
    try:
        config = runs.run_config(agent, device)
        if init_from is not None:  # where the first weights came from (a resume reads its own checkpoints)
            config["init_from"] = str(Path(init_from).resolve())
        runs.write_json(run_dir / runs.CONFIG, config)
        metrics = run_training(agent, run_dir, video, quiet)
    except BaseException:
        if created and not runs.has_checkpoint(run_dir):
            shutil.rmtree(run_dir, ignore_errors=True)
        raise
    return run_dir, agent, metrics


def resume(
    run_dir: Path,
    device: str | None = None,
    steps: int | None = None,
    video: bool = False,
    quiet: bool = False,
    eval_every: int | None = None,
    eval_episodes: int | None = None,
) -> tuple[Path, Agent, dict[str, float]]:
    """``gymlab train --resume RUN_DIR``: continue from the newest checkpoint, with every
    counter, optimizer state and RNG state restored; ``steps`` raises the step budget,
    ``eval_every``/``eval_episodes`` change the periodic evaluation (both kept in config.json)."""
    run_dir = Path(run_dir)
    config, agent = runs.load_run(run_dir, device, resume=True)
    if steps is not None and steps < agent.num_timesteps:
        raise ValueError(f"--steps {steps} is below the {agent.num_timesteps} steps already done")
    changes = {"total_steps": steps, "eval_every": eval_every, "eval_episodes": eval_episodes}
    changes = {k: v for k, v in changes.items() if v is not None}
    for key, value in changes.items():  # in place: the learner's parts may hold the config object
        setattr(agent.config, key, value)
    agent.config.check()
    check_eval_flags(agent.config, eval_episodes)
    if agent.config.eval_every:
        runs.best_evaluation(run_dir)  # a damaged best.pt stops the resume here, before anything is written
    if changes:
        config["hyperparameters"].update(changes)
        runs.write_json(run_dir / runs.CONFIG, config)
    return run_dir, agent, run_training(agent, run_dir, video, quiet)
