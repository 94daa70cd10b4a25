"""What a run logs while it trains: TensorBoard scalars under SB3's tag names, episodes.csv and
evaluations.csv (trimmed back to the checkpoint when a killed run resumes)."""

from __future__ import annotations

import csv
import io
import time
from pathlib import Path
from typing import Any

import numpy as np

from agents.base import Agent
from agents.runs import EPISODES, EVALUATION_FIELDS, EVALUATIONS, write_atomic


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


LOG_POINTS = 500
"""Points per curve that the default ``log_interval`` aims at."""


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
        # a queue long enough that the training loop never waits for the writer thread: events
        # are pushed to disk by flush() (every 10 s, at checkpoints, at the end)
        self.writer = SummaryWriter(
            str(self.run_dir), purge_step=start_step + 1 if start_step > 0 else None, max_queue=1000, flush_secs=3600
        )
        self.pending: list = []
        """(Summary, step, wall time) not yet handed to the writer: scalars are batched until :meth:`flush`
        (handing each over wakes the writer's thread, ~1.6 ms a time on a busy CPU)"""
        self.start_time = time.perf_counter()
        self.start_step = start_step
        self.interval: int | None = None  # iterations between two logs, set at the first
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
        """Every finite metric at ``step`` as one event (one write for all the tags), handed to the
        writer at the next :meth:`flush`."""
        from tensorboard.compat.proto.summary_pb2 import Summary

        values = [
            Summary.Value(tag=tag, simple_value=float(value))
            for tag, value in metrics.items()
            if value is not None and np.isfinite(value)
        ]
        if values:
            self.pending.append((Summary(value=values), step, time.time()))  # stamped when logged

    def log_due(self, agent: Agent) -> bool:
        """Whether this iteration's figures are logged: every ``log_interval`` iterations (by default
        about :data:`LOG_POINTS` points per run, the interval set from the first iteration's steps),
        and always at the last."""
        step, config = agent.num_timesteps, agent.config
        if self.interval is None:
            steps_per_iteration = max(1, step - self.start_step)
            self.interval = config.log_interval or max(1, round(config.total_steps / steps_per_iteration / LOG_POINTS))
        return agent.iterations % self.interval == 0 or step >= config.total_steps

    def iteration(self, agent: Agent, metrics: dict[str, float]) -> None:
        """Everything logged after one training iteration: the finished episodes' rows, and when
        :meth:`log_due`, the figures."""
        step = agent.num_timesteps
        for row in agent.episodes.drain():
            self.episodes_csv.writerow(row)
        if not self.log_due(agent):
            return
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
        """Add a video ``(T, H, W, 3)`` uint8 as an animated GIF in the IMAGES tab, at most
        ``GIF_WIDTH`` pixels wide and ``GIF_FRAMES`` frames long (every k-th frame, shown k times
        as long, so it plays at the env's speed). See :func:`gif_bytes`."""
        from tensorboard.compat.proto.summary_pb2 import Summary

        data, (h, w) = gif_bytes(frames, fps)
        image = Summary.Image(height=h, width=w, colorspace=3, encoded_image_string=data)
        self.writer.file_writer.add_summary(Summary(value=[Summary.Value(tag=tag, image=image)]), step)

    def flush(self) -> None:
        """Push buffered events and episode rows to disk."""
        for summary, step, walltime in self.pending:
            self.writer.file_writer.add_summary(summary, step, walltime)
        self.pending.clear()
        self.writer.flush()
        self.episodes_file.flush()
        if self.evaluations_file is not None:
            self.evaluations_file.flush()

    def close(self) -> None:
        """Flush and close."""
        self.flush()
        self.writer.close()
        self.episodes_file.close()
        if self.evaluations_file is not None:
            self.evaluations_file.close()


GIF_WIDTH = 320
"""widest GIF written to TensorBoard (larger frames are shrunk by a whole factor)"""
GIF_FRAMES = 250
"""most frames in a TensorBoard GIF (longer episodes keep every k-th frame)"""


def gif_bytes(frames: np.ndarray, fps: int) -> tuple[bytes, tuple[int, int]]:
    """``(T, H, W, 3)`` uint8 frames as an animated GIF: ``(bytes, (height, width))``.

    Quantising every frame to its own palette took 3/4 of ``gymlab record`` (a 500-frame CartPole
    episode: 32 s against 5 s of rendering), so frames are shrunk (nearest pixel), thinned to
    ``GIF_FRAMES``, and all mapped to one palette made from the first, middle and last frame.
    (SummaryWriter.add_video needs moviepy 1's ``moviepy.editor``; Pillow avoids that.)
    """
    from PIL import Image

    stride = max(1, -(-len(frames) // GIF_FRAMES))  # ceil: at most GIF_FRAMES frames
    shrink = max(1, -(-frames.shape[2] // GIF_WIDTH))
    frames = np.ascontiguousarray(frames[::stride, ::shrink, ::shrink])  # (T', H', W', 3)
    sample = np.concatenate([frames[0], frames[len(frames) // 2], frames[-1]], axis=0)
    palette = Image.fromarray(sample).quantize(colors=256, method=Image.Quantize.MEDIANCUT)
    images = [Image.fromarray(f).quantize(palette=palette, dither=Image.Dither.NONE) for f in frames]
    out = io.BytesIO()
    images[0].save(
        out, format="GIF", save_all=True, append_images=images[1:], duration=int(1000 * stride / fps), loop=0
    )
    return out.getvalue(), frames.shape[1:3]


def read_scalars(run_dir: Path, prefix: str = "") -> dict[str, tuple[list[int], list[float]]]:
    """The scalars a run logged to TensorBoard whose tag starts with ``prefix``: tag -> (steps,
    values), in step order."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(run_dir), size_guidance={"scalars": 0})
    events.Reload()
    scalars = {}
    for tag in events.Tags()["scalars"]:
        if tag.startswith(prefix):
            points = sorted(events.Scalars(tag), key=lambda event: event.step)
            scalars[tag] = ([event.step for event in points], [event.value for event in points])
    return scalars
