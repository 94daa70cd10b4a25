"""Run directories: config.json, atomic checkpoints, TensorBoard logging, the episodes log.

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

import csv
import dataclasses
import io
import json
import os
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

import agents
from agents.base import Agent
from gymlab.config import build_config

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


def run_config(agent: Agent, device: str) -> dict[str, Any]:
    """What config.json records for a run: enough to rebuild the agent exactly."""
    import gymlab

    return {
        "agent": agent.name,
        "env_id": agent.env_id,
        "seed": agent.seed,
        "device": device,
        "env_kwargs": agent.env_kwargs,
        "hyperparameters": dataclasses.asdict(agent.config),
        "gymlab_version": gymlab.__version__,
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


# ----------------------------------------------------------------------------- logging


def _row_step(row: list[str], width: int) -> float:
    """The step (first field) of a complete CSV log row of ``width`` numbers; inf for a row cut
    short by a kill."""
    try:
        if len(row) != width:
            raise ValueError
        step = int(row[0])
        for value in row[1:]:
            float(value)
    except ValueError:
        return float("inf")
    return step


def _open_csv_log(path: Path, header: list[str] | tuple[str, ...], start_step: int):
    """Open a CSV log for appending. With ``start_step`` > 0 (a resumed run's checkpoint), an
    existing log is first rewritten, atomically, to its header and its complete rows up to that
    step: later rows came from the run that died, which may also have cut a row short or left
    the file without its header. With 0 (a new run) rows are only added. Returns (file, writer)."""
    if start_step > 0 and path.exists():
        with open(path, newline="", errors="replace") as f:
            rows = list(csv.reader(f))
        if rows and rows[0] == list(header):
            rows = rows[1:]
        keep = [r for r in rows if _row_step(r, len(header)) <= start_step]
        text = io.StringIO()
        csv.writer(text).writerows([list(header), *keep])
        write_atomic(path, text.getvalue().encode())
    new = not path.exists()
    file = open(path, "a", newline="")
    writer = csv.writer(file)
    if new:
        writer.writerow(header)
    return file, writer


def last_evaluation_step(run_dir: Path) -> int | None:
    """The step of the last complete row of a run's evaluations.csv (None: no evaluation yet)."""
    path = Path(run_dir) / EVALUATIONS
    if not path.exists():
        return None
    with open(path, newline="", errors="replace") as f:
        steps = [_row_step(r, len(EVALUATION_FIELDS)) for r in csv.reader(f)]
    steps = [int(s) for s in steps if s != float("inf")]
    return max(steps) if steps else None


def _wait_for_a_later_events_name(run_dir: Path) -> None:
    """TensorBoard reads a run's event files in name order, and names start with the creation
    second: a file opened in the same second as the last one could sort before it (by pid) and
    its purge marker would come too early. Wait, at most a second, until a new name sorts last."""
    stamps = [
        int(p.name.split(".")[3]) for p in run_dir.glob("events.out.tfevents.*") if p.name.split(".")[3].isdigit()
    ]
    while stamps and int(time.time()) <= max(stamps):
        time.sleep(0.05)


class RunLogger:
    """TensorBoard scalars under SB3's tag names, plus episodes.csv and evaluations.csv.

    ``start_step`` > 0 (a resumed run) purges events and CSV rows written after the checkpoint
    by the run that died, so curves continue from the checkpoint's step.
    """

    def __init__(self, run_dir: Path, start_step: int = 0):
        from torch.utils.tensorboard import SummaryWriter

        self.run_dir = Path(run_dir)
        if start_step > 0:
            _wait_for_a_later_events_name(self.run_dir)
        # Events at steps <= start_step match the checkpoint; later ones came from the dead run.
        self.writer = SummaryWriter(str(self.run_dir), purge_step=start_step + 1 if start_step > 0 else None)
        self.start_time = time.perf_counter()
        self.start_step = start_step
        self.episodes_file, self.episodes_csv = _open_csv_log(
            self.run_dir / EPISODES, ("step", "return", "length"), start_step
        )
        self.evaluations_file = self.evaluations_csv = None
        if (self.run_dir / EVALUATIONS).exists():  # a resumed run's: trim it now
            self._open_evaluations()

    def _open_evaluations(self) -> None:
        self.evaluations_file, self.evaluations_csv = _open_csv_log(
            self.run_dir / EVALUATIONS, EVALUATION_FIELDS, self.start_step
        )

    def hparams(self, config: dict[str, Any]) -> None:
        """Hyperparameters as a markdown table (TEXT tab) and in the HPARAMS tab."""
        from torch.utils.tensorboard.summary import hparams

        flat = {"agent": config["agent"], "env_id": config["env_id"], "seed": config["seed"]}
        flat.update({k: (str(v) if isinstance(v, list) else v) for k, v in config["hyperparameters"].items()})
        table = "| key | value |\n|---|---|\n" + "\n".join(f"| {k} | {v} |" for k, v in flat.items())
        self.writer.add_text("hyperparameters", table, 0)
        exp, ssi, sei = hparams(flat, {"eval/mean_reward": float("nan"), "test/mean_reward": float("nan")})
        for summary in (exp, ssi, sei):
            self.writer.file_writer.add_summary(summary)

    def scalars(self, metrics: dict[str, float], step: int) -> None:
        """Write every metric at ``step``."""
        for tag, value in metrics.items():
            if value is not None and np.isfinite(value):
                self.writer.add_scalar(tag, value, step)

    def iteration(self, agent: Agent, metrics: dict[str, float]) -> None:
        """Everything logged after one training iteration."""
        step = agent.num_timesteps
        for row in agent.episodes.drain():
            self.episodes_csv.writerow(row)
        if agent.episodes.returns:
            metrics["rollout/ep_rew_mean"] = agent.episodes.mean_return()
            metrics["rollout/ep_len_mean"] = float(np.mean(agent.episodes.lengths))
        elapsed = time.perf_counter() - self.start_time
        metrics["time/fps"] = (step - self.start_step) / max(elapsed, 1e-9)
        metrics["time/iterations"] = agent.iterations
        metrics.pop("time/iteration_fps", None)
        self.scalars(metrics, step)

    def evaluation(self, stats: dict[str, float], step: int) -> None:
        """One periodic evaluation: eval/* scalars and a row of evaluations.csv (created at the
        first one)."""
        self.scalars({f"eval/{k}": v for k, v in stats.items()}, step)
        if self.evaluations_csv is None:
            self._open_evaluations()
        self.evaluations_csv.writerow([step, *(f"{stats[k]:.6g}" for k in EVALUATION_FIELDS[1:])])

    def video(self, tag: str, frames: np.ndarray, step: int, fps: int = 30) -> None:
        """Add a video ``(T, H, W, 3)`` uint8 as an animated GIF in the IMAGES tab.

        (SummaryWriter.add_video needs moviepy 1's ``moviepy.editor``; encoding with Pillow
        avoids that.)
        """
        from PIL import Image
        from tensorboard.compat.proto.summary_pb2 import Summary

        images = [Image.fromarray(f) for f in frames[:: max(1, len(frames) // 300)]]
        out = io.BytesIO()
        images[0].save(out, format="GIF", save_all=True, append_images=images[1:], duration=int(1000 / fps), loop=0)
        h, w = frames.shape[1:3]
        image = Summary.Image(height=h, width=w, colorspace=3, encoded_image_string=out.getvalue())
        self.writer.file_writer.add_summary(Summary(value=[Summary.Value(tag=tag, image=image)]), step)

    def flush(self) -> None:
        """Push buffered events and episode rows to disk."""
        self.writer.flush()
        self.episodes_file.flush()
        if self.evaluations_file is not None:
            self.evaluations_file.flush()

    def close(self) -> None:
        """Flush and close."""
        self.writer.close()
        self.episodes_file.close()
        if self.evaluations_file is not None:
            self.evaluations_file.close()
