"""The training driver behind ``gymlab train``: build, log, checkpoint, resume."""

from __future__ import annotations

import shutil
import sys
import time
from pathlib import Path

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
) -> Agent:
    """An untrained agent from its preset, ``--set`` overrides and flags; every bad input
    raises ValueError before anything is written."""
    cls = agents.agent_class(agent_name)
    envs.check_env_id(env_id)
    flags = {k: v for k, v in (("total_steps", steps), ("n_envs", n_envs)) if v is not None}
    config = build_config(cls.Config, preset(agent_name, env_id), parse_set(list(sets)), flags)
    return cls(env_id, config, seed=seed, device=device)


def checkpoint_interval(agent: Agent) -> int:
    """Steps between checkpoints: the config's, or a tenth of the run."""
    return agent.config.checkpoint_every or max(1, agent.config.total_steps // 10)


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
    """The loop of :func:`run_training`: progress bar, logging, checkpoints (one at the end, and
    one on Ctrl-C before it propagates)."""
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
) -> tuple[Path, Agent, dict[str, float]]:
    """``gymlab train``: a new run. A failure before the first checkpoint removes the run
    directory it created, so no half-written run is left behind."""
    agent = build_new(agent_name, env_id, seed, device, sets, steps, n_envs)
    run_dir = Path(run_dir) if run_dir else runs.default_run_dir(env_id, agent_name, seed)
    if (run_dir / runs.CONFIG).exists():
        raise ValueError(
            f"{run_dir} already holds a run; pick another --run-dir or continue it with --resume {run_dir}"
        )
    created = not run_dir.exists()
    run_dir.mkdir(parents=True, exist_ok=True)
    try:
        runs.write_json(run_dir / runs.CONFIG, runs.run_config(agent, device))
        metrics = run_training(agent, run_dir, video, quiet)
    except BaseException:
        if created and not (run_dir / runs.CHECKPOINTS).exists():
            shutil.rmtree(run_dir, ignore_errors=True)
        raise
    return run_dir, agent, metrics


def resume(
    run_dir: Path, device: str | None = None, steps: int | None = None, video: bool = False, quiet: bool = False
) -> tuple[Path, Agent, dict[str, float]]:
    """``gymlab train --resume RUN_DIR``: continue from the newest checkpoint, with every
    counter, optimizer state and RNG state restored; ``steps`` raises the step budget."""
    run_dir = Path(run_dir)
    config, agent = runs.load_run(run_dir, device, resume=True)
    if steps is not None:
        if steps < agent.num_timesteps:
            raise ValueError(f"--steps {steps} is below the {agent.num_timesteps} steps already done")
        agent.config.total_steps = steps
        config["hyperparameters"]["total_steps"] = steps
        runs.write_json(run_dir / runs.CONFIG, config)
    return run_dir, agent, run_training(agent, run_dir, video, quiet)
