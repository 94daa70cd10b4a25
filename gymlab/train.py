"""``gymlab train``: the command line's flags to a learner (agents' Python API), ``--init-from``, and
the run directory (agents.training does the training, logging and checkpoints)."""

from __future__ import annotations

import contextlib
import random
import sys
from pathlib import Path

import numpy as np
import torch

import agents
import envs
from agents import runs, training
from agents.base import Agent
from gymlab.config import parse_set


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
    hyperparameters = {**parse_set(list(sets)), **{k: v for k, v in flags.items() if v is not None}}
    agent = cls(env_id, seed=seed, device=device, env_kwargs=env_kwargs, **hyperparameters)
    check_eval_flags(agent.config, eval_episodes)
    if init_from is not None:
        start_from(agent, Path(init_from))
    return agent


def start_from(agent: Agent, source: Path) -> None:
    """``--init-from``: give a new run's actor-critic the weights (and normalisation statistics) of
    another run's newest checkpoint, or of an SB3 PPO/A2C model .zip (rl-baselines3-zoo's
    ``--trained-agent``); a supervised run takes a supervised run's network (a pre-trained body
    with a fresh head when the outputs differ: :meth:`Supervised.init_from`). Only the network: the optimizer, counters and schedules start afresh,
    and the run's random streams and thread count stay its own."""
    from agents.supervised import Supervised
    from gymlab.sb3 import from_sb3, is_sb3_model

    if not source.exists():
        raise ValueError(f"--init-from {source} does not exist; pass a gymlab run directory or an SB3 .zip")
    with own_process_state(agent):  # loading the source seeds and sets threads for the source
        if is_sb3_model(source):
            from_sb3(agent, source)
            return
        _, other = runs.load_run(source, "cpu")
    if isinstance(agent, Supervised) and isinstance(other, Supervised):  # a pre-trained body, or a whole model
        agent.init_from(other)
        return
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
    """``gymlab train``: a new run (agents.training.train_new)."""
    agent = build_new(
        agent_name, env_id, seed, device, sets, steps, n_envs, eval_every, eval_episodes, env_kwargs, init_from
    )
    run_dir = Path(run_dir) if run_dir else runs.default_run_dir(env_id, agent_name, seed)
    # where the first weights came from (a resume reads its own checkpoints)
    record = {"init_from": str(Path(init_from).resolve())} if init_from is not None else {}
    metrics = training.train_new(agent, run_dir, video, quiet, record)
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
    """``gymlab train --resume RUN_DIR`` (agents.training.resume)."""

    def announce(agent: Agent) -> None:
        print(f"resuming {run_dir} from step {agent.num_timesteps}", file=sys.stderr)

    agent, metrics = training.resume(Path(run_dir), device, steps, video, quiet, eval_every, eval_episodes, announce)
    return Path(run_dir), agent, metrics
