"""Run directories: config.json and atomic checkpoints, what ``Agent.save`` and training write.

A run directory holds::

    config.json          agent, env, seed, device and every hyperparameter actually used
    events.out.tfevents.*  TensorBoard logs
    episodes.csv         one row per finished training episode (step, return, length)
    evaluations.csv      one row per periodic evaluation (with eval_every > 0)
    checkpoints/         step-<N>.pt (state_dicts only) + latest.json (which one is newest),
                         best.pt (the best periodic evaluation's weights, with its figures)
    videos/              training videos (with --video)
"""

from __future__ import annotations

import dataclasses
import io
import json
import os
import time
import warnings
from importlib import metadata
from pathlib import Path
from typing import Any

import torch

import agents
from agents.base import Agent
from agents.presets import build_config

CONFIG = "config.json"
CHECKPOINTS = "checkpoints"
LATEST = "latest.json"
EPISODES = "episodes.csv"
EVALUATIONS = "evaluations.csv"
EVALUATION_FIELDS = ("step", "mean_reward", "std_reward", "mean_ep_length")
BEST = "best.pt"
KEEP_CHECKPOINTS = 2


class RunError(ValueError):
    """A run directory or checkpoint that cannot be used; the message says why and what to do."""


def default_run_dir(env_id: str, agent: str, seed: int, root: Path = Path("runs")) -> Path:
    """``runs/<env>/<agent>-s<seed>-<YYYYmmdd-HHMMSS>`` (a suffix is added on collision)."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    base = root / env_id.replace("/", "_") / f"{agent}-s{seed}-{stamp}"
    path, i = base, 1
    while path.exists():
        path, i = base.with_name(f"{base.name}-{i}"), i + 1
    return path


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so a crash leaves either the old file or the new one, never a
    partial one: write a temp file in the same directory, fsync, then rename over."""
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def write_json(path: Path, obj: Any) -> None:
    """Atomically write ``obj`` as indented JSON."""
    write_atomic(path, (json.dumps(obj, indent=2, sort_keys=False) + "\n").encode())


def run_config(agent: Agent) -> dict[str, Any]:
    """What config.json records for a run: enough to rebuild the agent exactly."""
    return {
        "agent": agent.name,
        "env_id": agent.env_id,
        "seed": agent.seed,
        "device": agent.requested_device,
        "env_kwargs": agent.env_kwargs,
        "hyperparameters": dataclasses.asdict(agent.config),
        "gymlab_version": metadata.version("gymlab"),
        "torch_version": torch.__version__,
    }


def read_config(run_dir: Path) -> dict[str, Any]:
    """config.json of a run; RunError when ``run_dir`` is not a gymlab run."""
    path = Path(run_dir) / CONFIG
    if not path.is_file():
        raise RunError(
            f"{run_dir} is not a gymlab run (no {CONFIG}); pass a directory made by `gymlab train`, e.g. runs/CartPole-v1/ppo-s0-..."
        )
    try:
        config = json.loads(path.read_text())
        for key in ("agent", "env_id", "seed", "hyperparameters"):
            config[key]  # noqa: B018 - presence check
    except (json.JSONDecodeError, KeyError, TypeError) as e:
        raise RunError(f"{path} is damaged ({type(e).__name__}: {e}); it cannot be used to rebuild the run") from None
    return config


def build_agent(config: dict[str, Any], device: str | None = None) -> Agent:
    """An untrained agent rebuilt from a run's config.json."""
    cls = agents.agent_class(config["agent"])
    hyper = build_config(cls.Config, config["hyperparameters"])
    return cls(
        config["env_id"], hyper, seed=int(config["seed"]), device=device or config.get("device", "auto"),
        env_kwargs=config.get("env_kwargs") or {},
    )  # fmt: skip


# ----------------------------------------------------------------------------- checkpoints


def _write_state(path: Path, state: dict[str, Any]) -> None:
    """torch.save ``state`` to ``path`` atomically."""
    buffer = io.BytesIO()
    torch.save(state, buffer)
    write_atomic(path, buffer.getvalue())


def save_checkpoint(run_dir: Path, agent: Agent) -> Path:
    """Write ``checkpoints/step-<N>.pt`` atomically, point latest.json at it, keep the newest two."""
    folder = Path(run_dir) / CHECKPOINTS
    folder.mkdir(parents=True, exist_ok=True)
    name = f"step-{agent.num_timesteps:010d}.pt"
    _write_state(folder / name, agent.state_dict())
    write_json(folder / LATEST, {"file": name, "num_timesteps": agent.num_timesteps, "time": time.time()})
    for old in sorted(folder.glob("step-*.pt"))[:-KEEP_CHECKPOINTS]:
        old.unlink()
    return folder / name


def has_checkpoint(run_dir: Path) -> bool:
    """Whether a run has a checkpoint to resume from."""
    return (Path(run_dir) / CHECKPOINTS / LATEST).is_file()


def latest_checkpoint(run_dir: Path) -> Path:
    """Path of the newest checkpoint of a run; RunError when there is none."""
    folder = Path(run_dir) / CHECKPOINTS
    try:
        name = json.loads((folder / LATEST).read_text())["file"]
    except FileNotFoundError:
        raise RunError(f"{run_dir} has no checkpoint yet; train it (or resume it) first") from None
    except (json.JSONDecodeError, KeyError, TypeError):
        raise RunError(
            f"{folder / LATEST} is damaged; delete it and point --resume at a run with checkpoints"
        ) from None
    return folder / name


def checkpoint_step(run_dir: Path) -> int:
    """The step of a run's newest checkpoint; RunError when there is none."""
    return int(load_checkpoint(latest_checkpoint(run_dir))["num_timesteps"])


def save_best(run_dir: Path, agent: Agent, stats: dict[str, float]) -> Path:
    """Write ``checkpoints/best.pt`` atomically: the agent's state plus the evaluation that made
    it the best (``state["evaluation"]``: ``step`` and the figures of :meth:`Agent.evaluate`)."""
    folder = Path(run_dir) / CHECKPOINTS
    folder.mkdir(parents=True, exist_ok=True)
    state = agent.state_dict()
    state["evaluation"] = {"step": agent.num_timesteps, **{k: float(v) for k, v in stats.items()}}
    _write_state(folder / BEST, state)
    return folder / BEST


def best_checkpoint(run_dir: Path) -> Path:
    """Path of a run's best.pt; RunError when the run has none."""
    path = Path(run_dir) / CHECKPOINTS / BEST
    if not path.is_file():
        raise RunError(
            f"{run_dir} has no best model; train with --eval-every STEPS to evaluate periodically and keep one"
        )
    return path


def best_evaluation(run_dir: Path) -> dict[str, float] | None:
    """The evaluation stored in a run's best.pt (``step``, ``mean_reward``, ...), None without one."""
    path = Path(run_dir) / CHECKPOINTS / BEST
    if not path.is_file():
        return None
    evaluation = load_checkpoint(path).get("evaluation")
    if not isinstance(evaluation, dict) or "mean_reward" not in evaluation:
        raise RunError(f"{path} holds no evaluation; delete it to let training choose a best model again")
    return evaluation


def load_checkpoint(path: Path) -> dict[str, Any]:
    """Load a checkpoint with ``weights_only=True`` (it can never run code); RunError when it
    is missing, truncated or corrupt (for best.pt, saying how to get a new one)."""
    fix = (
        "delete it; training with --eval-every keeps a new one" if Path(path).name == BEST
        else "delete it and use an earlier one"
    )  # fmt: skip
    try:
        with warnings.catch_warnings():  # torch warns about odd pickles before refusing them
            warnings.simplefilter("ignore")
            state = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise RunError(f"checkpoint {path} is missing; its run directory was changed by hand") from None
    except Exception as e:  # torch raises many kinds for a damaged zip or pickle
        raise RunError(f"checkpoint {path} is truncated or corrupt ({type(e).__name__}); {fix}") from None
    if not isinstance(state, dict) or "modules" not in state:
        raise RunError(f"checkpoint {path} is not a gymlab checkpoint; {fix}")
    return state


def load_run(run_dir: Path, device: str | None = None, resume: bool = False, best: bool = False) -> tuple[dict, Agent]:
    """Rebuild a run's agent from config.json and its newest checkpoint (``best``: best.pt).

    ``resume=True`` restores everything (optimizer, counters, RNG); otherwise only the weights
    and the step count.
    """
    config = read_config(run_dir)
    agent = build_agent(config, device)
    state = load_checkpoint(best_checkpoint(run_dir) if best else latest_checkpoint(run_dir))
    try:
        agent.load_state_dict(state, weights_only=not resume)
    except (RuntimeError, KeyError, ValueError) as e:
        detail = " ".join(str(e).split())[:200]
        raise RunError(
            f"checkpoint of {run_dir} does not fit the network its config.json describes ({detail}); "
            "was it written by another gymlab version?"
        ) from None
    agent.num_timesteps = int(state["num_timesteps"])
    return config, agent


def save_run(agent: Agent, run_dir: Path) -> Path:
    """``Agent.save``: write config.json (unless ``run_dir`` already holds this agent's run) and a
    checkpoint, so ``gymlab eval``, ``record``, ``board`` and ``--resume`` accept the folder."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    config = run_config(agent)
    if (run_dir / CONFIG).exists():
        theirs = read_config(run_dir)
        if (theirs["agent"], theirs["env_id"]) != (agent.name, agent.env_id):
            raise RunError(
                f"{run_dir} holds a {theirs['agent']} run on {theirs['env_id']}; save this "
                f"{agent.name} agent on {agent.env_id} into another folder"
            )
        config = {**theirs, "hyperparameters": config["hyperparameters"]}
    write_json(run_dir / CONFIG, config)
    return save_checkpoint(run_dir, agent)
