"""What every lecture shares: its declaration, the registry, and the runner.

A lecture is a claim from the course that can be checked by experiment. Its file declares a
:class:`Lecture` (name, homework, claim, arms, the experiment for one seed, the pass condition)
and registers it; :func:`run_lecture` runs the experiment over seeds, builds the table of
mean +/- spread per arm, decides whether the claim held, and writes into the output folder:

    result.json        lecture, claim, held, figures (the table), runs (run directories), ...
    lecture.png        the curves, surfaces and images of the first seed (matplotlib)
    events.out.tfevents.*  TensorBoard: every figure per arm, every curve, the plot as an image
"""

from __future__ import annotations

import functools
import importlib
import json
import pkgutil
import statistics
import textwrap
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

Figures = dict[str, dict[str, float]]
"""arm -> figure name -> value, for one seed."""


@dataclass
class Panel:
    """One subplot of a lecture's PNG: curves, optionally over a surface's contours."""

    title: str
    """what the panel shows"""
    lines: dict[str, tuple[Sequence[float], Sequence[float]]] = field(default_factory=dict)
    """label -> (x values, y values)"""
    xlabel: str = "step"
    """label of the x axis"""
    ylabel: str = "loss"
    """label of the y axis"""
    log_y: bool = False
    """logarithmic y axis"""
    surface: Callable[[Any], None] | None = None
    """draws a background on the axes (e.g. a loss surface's contours) before the lines"""
    images: list[tuple[str, np.ndarray]] = field(default_factory=list)
    """caption -> image, drawn as a grid instead of axes: (H, W) values in grey (each scaled to
    its own range) or (H, W, 3) RGB in [0, 1] (see :func:`heatmap`)"""
    image_columns: int = 8
    """images per row of the grid"""
    image_rows: dict[str, np.ndarray] = field(default_factory=dict)
    """label -> (N, H, W) or (N, 1, H, W) grayscale images, drawn as a grid: one row per label"""
    matrix: Sequence[Sequence[float]] | None = None
    """a heat map with its values written in the cells (rows down the y axis, columns along x),
    drawn instead of lines; also written to result.json under ``matrices``"""


def image_grid(images: dict[str, np.ndarray], gap: int = 1) -> np.ndarray:
    """One (rows * (H + gap), N * (W + gap)) array of ``images``' rows, NaN in the gaps."""
    rows = []
    for batch in images.values():
        batch = np.asarray(batch, dtype=np.float64)
        batch = batch.reshape(len(batch), *batch.shape[-2:])  # (N, H, W)
        padded = np.pad(batch, ((0, 0), (0, gap), (0, gap)), constant_values=np.nan)  # (N, H + gap, W + gap)
        rows.append(np.concatenate(list(padded), axis=1))
    width = max(row.shape[1] for row in rows)
    return np.concatenate([np.pad(r, ((0, 0), (0, width - r.shape[1])), constant_values=np.nan) for r in rows])


@dataclass
class Trial:
    """What one seed of a lecture's experiment gives back."""

    figures: Figures
    """arm -> figure name -> value"""
    panels: list[Panel] = field(default_factory=list)
    """curves and surfaces to plot"""
    runs: list[str] = field(default_factory=list)
    """run directories of the models trained (each an ordinary gymlab run)"""


class Table:
    """Figures over seeds: arm -> figure name -> one value per seed, with mean and spread."""

    def __init__(self, trials: Sequence[Trial]):
        self.values: dict[str, dict[str, list[float]]] = {}
        for trial in trials:
            for arm, figures in trial.figures.items():
                for name, value in figures.items():
                    self.values.setdefault(arm, {}).setdefault(name, []).append(float(value))

    def mean(self, arm: str, figure: str) -> float:
        """Mean of ``figure`` of ``arm`` over seeds."""
        return statistics.fmean(self.values[arm][figure])

    def spread(self, arm: str, figure: str) -> float:
        """Standard deviation over seeds (0 for one seed)."""
        values = self.values[arm][figure]
        return statistics.stdev(values) if len(values) > 1 else 0.0

    def figure_names(self) -> list[str]:
        """Every figure name, in first-seen order."""
        names: list[str] = []
        for figures in self.values.values():
            names += [name for name in figures if name not in names]
        return names

    def to_json(self) -> dict[str, dict[str, dict[str, Any]]]:
        """``{arm: {figure: {"mean", "spread", "values"}}}``."""
        return {
            arm: {
                name: {"mean": self.mean(arm, name), "spread": self.spread(arm, name), "values": values}
                for name, values in figures.items()
            }
            for arm, figures in self.values.items()
        }

    def text(self) -> str:
        """The table as aligned text: one row per arm, ``mean ± spread`` per figure."""
        names = self.figure_names()
        arm_width = max(len("arm"), *(len(arm) for arm in self.values))
        cells = {
            (arm, name): f"{format_number(self.mean(arm, name))} ± {format_number(self.spread(arm, name))}"
            if name in figures
            else "-"
            for arm, figures in self.values.items()
            for name in names
        }
        widths = {name: max(len(name), *(len(cells[arm, name]) for arm in self.values)) for name in names}
        lines = ["  ".join([f"{'arm':<{arm_width}}", *(f"{name:>{widths[name]}}" for name in names)])]
        for arm in self.values:
            lines.append("  ".join([f"{arm:<{arm_width}}", *(f"{cells[arm, name]:>{widths[name]}}" for name in names)]))
        return "\n".join(lines)


def format_number(value: float) -> str:
    """A figure in a few characters: 0.934, 1.41, 3.2e-05, 412."""
    if value == 0 or not np.isfinite(value):
        return f"{value:g}"
    if abs(value) >= 1000 or abs(value) < 1e-3:
        return f"{value:.3g}" if abs(value) >= 1000 and float(value).is_integer() else f"{value:.2e}"
    return f"{value:.3g}"


@dataclass(frozen=True)
class Lecture:
    """A claim of the course as an experiment (one per file in ``lectures/``)."""

    name: str
    """command-line name, e.g. ``critical-points``"""
    homework: str
    """the homework or lecture it belongs to, e.g. ``HW2: when gradient is small``"""
    claim: str
    """the claim in one sentence"""
    arms: tuple[str, ...]
    """the things compared (rows of the table)"""
    experiment: Callable[[bool, int, Path], Trial]
    """``experiment(quick, seed, out)``: one seed's figures, panels and run directories"""
    condition: Callable[[Table], bool]
    """the pass condition over the table: would be False if the lecture were wrong"""
    condition_text: str
    """the pass condition in words"""
    quick_seeds: int = 3
    """seeds with ``--quick`` (when ``--seeds`` is not given)"""
    full_seeds: int = 5
    """seeds without ``--quick``"""


@dataclass
class LectureResult:
    """What :func:`run_lecture` found and where it wrote it."""

    lecture: Lecture
    table: Table
    held: bool
    runs: list[str]
    out: Path
    seconds: float
    seeds: int


LECTURES: dict[str, Lecture] = {}
"""The registry: name -> lecture. Lecture modules in this package register themselves."""

_discovered = False


def register(lecture: Lecture) -> Lecture:
    """Add ``lecture`` to the registry (a lecture module calls this at import) and return it."""
    if lecture.name in LECTURES and LECTURES[lecture.name] is not lecture:
        raise ValueError(f"two lectures are named {lecture.name!r}")
    LECTURES[lecture.name] = lecture
    return lecture


def discover() -> dict[str, Lecture]:
    """Import every module of the ``lectures`` package once (each lecture file registers itself)
    and return the registry, sorted by name."""
    global _discovered
    if not _discovered:
        import lectures

        for module in pkgutil.iter_modules(lectures.__path__):
            importlib.import_module(f"lectures.{module.name}")
        _discovered = True
    return dict(sorted(LECTURES.items()))


def get_lecture(name: str) -> Lecture:
    """The lecture called ``name``; ValueError naming the lectures when there is none."""
    known = discover()
    if name not in known:
        raise ValueError(f"unknown lecture {name!r}; choose one of {', '.join(known)} (`gymlab lecture list`)")
    return known[name]


def heatmap(values: np.ndarray, colormap: str = "inferno") -> np.ndarray:
    """A (H, W) map as an (H, W, 3) RGB image in [0, 1], its largest magnitude the brightest."""
    from matplotlib import colormaps

    magnitude = np.abs(np.asarray(values, dtype=np.float64))
    scaled = magnitude / magnitude.max() if magnitude.max() > 0 else magnitude
    return colormaps[colormap](scaled)[..., :3]


def grey_unit(image: np.ndarray) -> np.ndarray:
    """An image's values scaled to [0, 1] (a constant image becomes 0); RGB passes unchanged."""
    image = np.asarray(image, dtype=np.float64)
    if image.ndim == 3:
        return np.clip(image, 0.0, 1.0)
    span = image.max() - image.min()
    return (image - image.min()) / span if span > 0 else np.zeros_like(image)


def draw_images(axes, panel: Panel) -> None:
    """The panel's images as a grid of small axes inside ``axes``, each captioned."""
    axes.axis("off")
    columns = max(1, min(panel.image_columns, len(panel.images)))
    rows = -(-len(panel.images) // columns)
    for i, (caption, image) in enumerate(panel.images):
        row, column = divmod(i, columns)
        inset = axes.inset_axes([column / columns, 1 - (row + 1) / rows, 0.92 / columns, 0.8 / rows])
        inset.imshow(grey_unit(image), cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
        inset.set_title(caption, fontsize=5, pad=1)
        inset.axis("off")


def plot(panels: Sequence[Panel], title: str, path: Path, panel_size: tuple[float, float] = (4.2, 3.6)) -> np.ndarray:
    """Draw ``panels`` side by side into ``path`` (PNG), each ``panel_size`` inches (width,
    height); return the image as (H, W, 3) uint8."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    n = max(len(panels), 1)
    lines = textwrap.wrap(title, width=int(45 * n))
    figure = Figure(figsize=(panel_size[0] * n, panel_size[1] + 0.2 * len(lines)), dpi=90)
    canvas = FigureCanvasAgg(figure)
    for i, panel in enumerate(panels):
        axes = figure.add_subplot(1, n, i + 1)
        if panel.images:
            axes.set_title(panel.title, fontsize=9)
            draw_images(axes, panel)
            continue
        if panel.surface is not None:
            panel.surface(axes)
        if panel.image_rows:
            grid = image_grid(panel.image_rows)
            axes.imshow(grid, cmap="gray", interpolation="nearest")
            row_height = grid.shape[0] / len(panel.image_rows)
            axes.set_yticks(
                [(i + 0.5) * row_height for i in range(len(panel.image_rows))], list(panel.image_rows), fontsize=7
            )
            axes.set_xticks([])
        if panel.matrix is not None:
            draw_matrix(axes, np.asarray(panel.matrix, dtype=float))
        for label, (xs, ys) in panel.lines.items():
            axes.plot(xs, ys, ".-" if panel.surface is not None else "-", label=label, markersize=3, linewidth=1.2)
        if panel.log_y:
            axes.set_yscale("log")
        axes.set_title(panel.title, fontsize=9)
        axes.set_xlabel(panel.xlabel)
        axes.set_ylabel(panel.ylabel)
        if panel.lines:
            axes.legend(fontsize=7)
    figure.suptitle("\n".join(lines), fontsize=9)
    figure.tight_layout()
    canvas.draw()
    figure.savefig(path)
    return np.asarray(canvas.buffer_rgba())[..., :3].copy()


def draw_matrix(axes, matrix: np.ndarray) -> None:
    """A heat map of ``matrix`` (rows, columns) in [0, 1] with each value written in its cell."""
    axes.imshow(matrix, cmap="viridis", vmin=0.0, vmax=1.0)
    for (row, column), value in np.ndenumerate(matrix):
        if np.isfinite(value):
            colour = "black" if value > 0.6 else "white"
            axes.text(column, row, f"{value:.2f}", ha="center", va="center", fontsize=6, color=colour)
    axes.set_xticks(range(matrix.shape[1]))
    axes.set_yticks(range(matrix.shape[0]))


def write_events(out: Path, result_table: Table, panels: Sequence[Panel], image: np.ndarray) -> None:
    """TensorBoard events: ``figures/<arm>/<figure>`` (mean over seeds), every curve of the first
    seed under ``curves/<panel>/<label>``, every panel image under ``images/<panel>/<i caption>``
    and the plot under ``lecture/plot`` (IMAGES tab)."""
    from torch.utils.tensorboard import SummaryWriter

    writer = SummaryWriter(str(out))
    for arm, figures in result_table.values.items():
        for name in figures:
            writer.add_scalar(f"figures/{arm}/{name}", result_table.mean(arm, name), 0)
    for panel in panels:
        for label, (xs, ys) in panel.lines.items():
            if panel.surface is not None:
                continue  # a path over a surface is not a curve in time
            for x, y in zip(xs, ys):
                if np.isfinite(y):
                    writer.add_scalar(f"curves/{panel.title}/{label}", float(y), int(x))
    for panel in panels:
        for i, (caption, picture) in enumerate(panel.images):
            picture = grey_unit(picture)
            writer.add_image(f"images/{panel.title}/{i:02d} {caption}", picture, 0,
                             dataformats="HWC" if picture.ndim == 3 else "HW")  # fmt: skip
        if panel.image_rows:  # one image: the grid of rows, its gaps black
            grid = image_grid(panel.image_rows)
            grid = np.where(np.isnan(grid), np.nanmin(grid), grid)
            writer.add_image(f"images/{panel.title}/rows", grey_unit(grid), 0, dataformats="HW")
    writer.add_image("lecture/plot", image, 0, dataformats="HWC")
    writer.close()


def default_out(name: str, root: Path = Path("runs") / "lectures") -> Path:
    """``runs/lectures/<name>-<YYYYmmdd-HHMMSS>`` (a suffix is added on collision)."""
    base = root / f"{name}-{time.strftime('%Y%m%d-%H%M%S')}"
    path, i = base, 1
    while path.exists():
        path, i = base.with_name(f"{base.name}-{i}"), i + 1
    return path


def run_seed(name: str, quick: bool, out: str, seed: int) -> Trial:
    """One seed of the lecture called ``name`` (a plain function of plain values, so that another
    process, e.g. a Ray worker, can run it)."""
    return get_lecture(name).experiment(quick, seed, Path(out) / f"seed{seed}")


def run_lecture(
    lecture: Lecture,
    quick: bool = False,
    seeds: int | None = None,
    out: Path | None = None,
    map_seeds: Callable[[Callable[[int], Trial], list[int]], list[Trial]] | None = None,
) -> LectureResult:
    """Run ``lecture`` on seeds 0 .. seeds-1 and write result.json, lecture.png and TensorBoard
    events into ``out``. Whether the claim held is in the result; it is never an error.
    ``map_seeds(function, seeds)`` runs the seeds (default: one after another in this process;
    ``gymlab lecture --seeds N`` passes Ray's, from gymlab.sweep)."""
    seeds = (lecture.quick_seeds if quick else lecture.full_seeds) if seeds is None else seeds
    if seeds < 1:
        raise ValueError(f"--seeds must be at least 1, got {seeds}")
    out = default_out(lecture.name) if out is None else Path(out)
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    one_seed = functools.partial(run_seed, lecture.name, quick, str(out))
    if map_seeds is None:
        trials = [one_seed(seed) for seed in range(seeds)]
    else:
        trials = list(map_seeds(one_seed, list(range(seeds))))
    table = Table(trials)
    missing = [arm for arm in lecture.arms if arm not in table.values]
    if missing:
        raise RuntimeError(f"lecture {lecture.name} reported no figures for arm(s) {', '.join(missing)}")
    held = bool(lecture.condition(table))
    runs = [run for trial in trials for run in trial.runs]
    image = plot(trials[0].panels, f"{lecture.name}: {lecture.claim}", out / "lecture.png")
    write_events(out, table, trials[0].panels, image)
    seconds = time.perf_counter() - start
    result = {
        "lecture": lecture.name,
        "homework": lecture.homework,
        "claim": lecture.claim,
        "condition": lecture.condition_text,
        "held": held,
        "figures": table.to_json(),
        "runs": runs,
        "seeds": list(range(seeds)),
        "quick": quick,
        "plot": "lecture.png",
        "matrices": {
            panel.title: np.asarray(panel.matrix, dtype=float).tolist()
            for panel in trials[0].panels
            if panel.matrix is not None
        },
        "seconds": seconds,
    }
    (out / "result.json").write_text(json.dumps(result, indent=2) + "\n")
    return LectureResult(lecture, table, held, runs, out, seconds, seeds)
