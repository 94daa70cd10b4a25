"""``gymlab sweep``: many seeds, a grid or a search, as Ray Tune trials, and results as statistics.

Every trial is an ordinary gymlab run directory, ``SWEEP/<configuration>/seed-<n>``, so ``eval``,
``record``, ``board`` and ``train --resume`` work on it. A trial whose worker dies (or a sweep
stopped and resumed) continues from the run's newest gymlab checkpoint: Ray retries the trial
function, which resumes the run it finds. When the trials are done, ``SWEEP/summary.json`` holds,
per configuration, the mean, median and interquartile mean of the trials' final evaluations with
95% stratified-bootstrap intervals (agents.stats), and the probability that the best
configuration improves on each other one; ``SWEEP/curves.png`` and TensorBoard events under
``SWEEP/board`` show the learning curves with their bands.

Ray starts embedded on this machine with ``workers`` CPUs, or joins a cluster at ``address``
(``ray start --head`` on one machine, ``ray start --address HEAD:6379`` on the others). Past one
machine, the sweep folder must be on a filesystem every node sees (NFS, or a mounted bucket).
"""

from __future__ import annotations

import csv
import itertools
import json
import os
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from agents import runs, stats, training
from agents.base import Agent

SPEC = "sweep.json"
SUMMARY = "summary.json"
FINAL = "final_evaluation.json"
TUNE_DIR = "tune"
CURVE_POINTS = 50
"""Points on the step axis at which the learning curves are compared."""


@dataclass
class SweepSpec:
    """What a sweep runs: ``gymlab train``'s options per trial, and how trials differ."""

    agent: str
    env_id: str
    seeds: int = 1
    """Seeds 0..seeds-1 of every configuration."""
    grid: dict[str, list[str]] = field(default_factory=dict)
    """--grid: every combination of these --set values is a configuration."""
    search: str | None = None
    """--search random|tpe: configurations drawn from ``space`` (one seed each)."""
    trials: int = 0
    """--trials: how many configurations the search draws."""
    space: dict[str, list] = field(default_factory=dict)
    """--space key=lo:hi[:log], as key -> [lo, hi, log]."""
    steps: int | None = None
    sets: list[str] = field(default_factory=list)
    env_kwargs: dict[str, Any] = field(default_factory=dict)
    eval_every: int | None = None
    eval_episodes: int | None = None
    final_episodes: int = 10
    """Episodes of each trial's final evaluation (its score)."""
    device: str = "cpu"

    def check(self) -> None:
        """Raise ValueError, with the fix, on options that cannot make a sweep."""
        if self.seeds < 1:
            raise ValueError("--seeds must be at least 1")
        if self.search not in (None, "random", "tpe"):
            raise ValueError(f"--search must be random or tpe, got {self.search!r}")
        if self.search:
            if self.grid:
                raise ValueError("give either --grid or --search, not both")
            if self.trials < 1 or not self.space:
                raise ValueError("--search needs --trials K and at least one --space key=lo:hi[:log]")
            if self.seeds != 1:
                raise ValueError("--search draws one run per trial; rerun its best configuration with --seeds N")
        elif self.space or self.trials:
            raise ValueError("--space and --trials go with --search random|tpe")
        for key in [*self.grid, *self.space]:
            if any(s.split("=", 1)[0] == key for s in self.sets):
                raise ValueError(f"{key} is both swept and fixed with --set; drop one")


def parse_grid(items: list[str]) -> dict[str, list[str]]:
    """``["learning_rate=1e-3,3e-4", "gamma=0.99,0.999"]`` -> ``{key: [value, ...]}``."""
    grid: dict[str, list[str]] = {}
    for item in items:
        key, sep, values = item.partition("=")
        if not sep or not key or not values or "" in values.split(","):
            raise ValueError(f"--grid takes key=v1,v2,..., got {item!r}")
        grid[key] = values.split(",")
    return grid


def parse_space(items: list[str]) -> dict[str, list]:
    """``["learning_rate=1e-4:1e-2:log"]`` -> ``{key: [lo, hi, log]}``."""
    space: dict[str, list] = {}
    for item in items:
        key, sep, text = item.partition("=")
        parts = text.split(":")
        try:
            if not sep or not key or len(parts) not in (2, 3) or (len(parts) == 3 and parts[2] != "log"):
                raise ValueError
            low, high = float(parts[0]), float(parts[1])
        except ValueError:
            raise ValueError(f"--space takes key=lo:hi or key=lo:hi:log, got {item!r}") from None
        log = len(parts) == 3
        if not low < high or (log and low <= 0):
            raise ValueError(f"--space {item}: need lo < hi{' and lo > 0 on a log scale' if log else ''}")
        space[key] = [low, high, log]
    return space


def config_name(values: dict[str, Any]) -> str:
    """A configuration's folder name: ``learning_rate=0.001_gamma=0.99``, or ``base``."""
    if not values:
        return "base"
    text = lambda v: f"{v:.4g}" if isinstance(v, float) else str(v)  # noqa: E731
    return "_".join(f"{key}={text(value)}".replace("/", "-") for key, value in values.items())


def grid_configurations(spec: SweepSpec) -> list[dict[str, str]]:
    """Every combination of the grid's values (one empty configuration without a grid)."""
    keys = list(spec.grid)
    return [dict(zip(keys, combo)) for combo in itertools.product(*(spec.grid[k] for k in keys))]


def trial_sets(spec: SweepSpec, values: dict[str, Any]) -> list[str]:
    """The trial's ``--set`` list: the sweep's own, then the configuration's values."""
    return [*spec.sets, *(f"{key}={value}" for key, value in values.items())]


def build_trial_agent(spec: SweepSpec, values: dict[str, Any], seed: int) -> Agent:
    """The agent a trial trains, built exactly as ``gymlab train`` builds one."""
    from gymlab.train import build_new

    return build_new(
        spec.agent, spec.env_id, seed, spec.device, trial_sets(spec, values), spec.steps, None,
        spec.eval_every, spec.eval_episodes, spec.env_kwargs or None,
    )  # fmt: skip


def check_configurations(spec: SweepSpec) -> None:
    """Build every grid configuration's agent (or the search's corners) on this machine first,
    so that a bad key or value fails in one line before Ray starts."""
    if spec.search:
        corners = [{k: v[0] for k, v in spec.space.items()}, {k: v[1] for k, v in spec.space.items()}]
        candidates = [{k: _round(spec, k, v) for k, v in corner.items()} for corner in corners]
    else:
        candidates = grid_configurations(spec)
    for values in candidates:
        build_trial_agent(spec, values, 0).close()


def _round(spec: SweepSpec, key: str, value: float) -> Any:
    """A drawn value as the agent takes it: whole numbers for integer hyperparameters."""
    from agents.presets import fields

    kind = fields(spec.agent).get(key)
    return int(round(value)) if kind is int else value


def run_trial(trial: dict[str, Any], spec: dict[str, Any], sweep_dir: str) -> None:
    """One Ray Tune trial: train (or continue) the run of ``trial``'s configuration and seed, then
    score its final weights and report the score. Runs in a Ray worker."""
    from ray import tune

    sweep = SweepSpec(**spec)
    seed = int(trial.get("seed", 0))
    values = {k: (_round(sweep, k, v) if sweep.search else v) for k, v in trial.items() if k != "seed"}
    run_dir = Path(sweep_dir) / config_name(values) / f"seed-{seed}"
    final = run_dir / FINAL
    if final.exists():  # finished before the sweep was stopped
        tune.report(json.loads(final.read_text()))
        return
    started = time.monotonic()
    log = run_dir / "sweep.log"  # one line per attempt: a retried trial shows where it resumed
    if runs.has_checkpoint(run_dir):
        _note(log, f"resumed at step {runs.checkpoint_step(run_dir)}")
        agent, _ = training.resume(run_dir, quiet=True)
    else:
        if run_dir.exists():  # killed before its first checkpoint: nothing worth keeping
            shutil.rmtree(run_dir)
        agent = build_trial_agent(sweep, values, seed)
        run_dir.mkdir(parents=True)
        _note(log, "started at step 0")
        training.train_new(agent, run_dir, quiet=True)
    _note(log, f"finished at step {agent.num_timesteps}")
    evaluation = agent.evaluate(sweep.final_episodes, deterministic=True, seed=seed + training.EVAL_SEED, split="val")
    result = {
        "score": evaluation["mean_reward"], "step": agent.num_timesteps, "config": values, "seed": seed,
        "wall_s": time.monotonic() - started,  # this attempt's training and scoring
    }  # fmt: skip
    runs.write_json(final, result)
    tune.report({k: v for k, v in result.items() if k != "config"})


def _note(log: Path, text: str) -> None:
    with log.open("a") as f:
        f.write(f"{text} (pid {os.getpid()})\n")


def _param_space(spec: SweepSpec) -> dict[str, Any]:
    from ray import tune

    if spec.search:
        draw = {True: tune.loguniform, False: tune.uniform}
        return {key: draw[log](low, high) for key, (low, high, log) in spec.space.items()}
    space = {key: tune.grid_search(values) for key, values in spec.grid.items()}
    return {**space, "seed": tune.grid_search(list(range(spec.seeds)))}


def _trainable(spec: SweepSpec, sweep_dir: Path):
    from ray import tune

    function = tune.with_parameters(run_trial, spec=asdict(spec), sweep_dir=str(sweep_dir.resolve()))
    return tune.with_resources(function, {"cpu": 1})


def _start_ray(workers: int | None, address: str | None) -> None:
    import logging

    import ray

    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    os.environ.setdefault("RAY_DEDUP_LOGS", "0")
    os.environ.setdefault("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "1")
    if address:
        ray.init(address=address, logging_level=logging.ERROR, log_to_driver=False)
    else:
        ray.init(num_cpus=workers or os.cpu_count(), include_dashboard=False, logging_level=logging.ERROR,
                 log_to_driver=False)  # fmt: skip


def _progress(sweep_dir: Path, total: int):
    """A Tune callback printing one line per finished trial (counting the sweep's finished runs on
    disk, so a resumed sweep counts on from where it stopped) and one per retried or failed trial."""
    from ray import tune

    class Progress(tune.Callback):
        def on_trial_result(self, iteration, trials, trial, result, **info):
            if "score" in result:
                done = len(list(sweep_dir.glob(f"*/seed-*/{FINAL}")))
                config = config_name({k: v for k, v in trial.config.items() if k != "seed"})
                seed = trial.config.get("seed", 0)
                print(f"[{done}/{total}] {config} seed {seed}: score {result['score']:.2f}", flush=True)

        def on_trial_recover(self, iteration, trials, trial, **info):
            print(f"trial {trial.trial_id}: its worker failed; Ray retries it from its run's last checkpoint",
                  file=sys.stderr, flush=True)  # fmt: skip

        def on_trial_error(self, iteration, trials, trial, **info):
            print(f"trial {trial.trial_id} failed after Ray's retries", file=sys.stderr, flush=True)

    return Progress()


def _call(function: Callable[[Any], Any], item: Any) -> Any:
    return function(item)


def ray_map(
    function: Callable[[Any], Any], items: list, workers: int | None = None, address: str | None = None
) -> list:
    """``[function(item) for item in items]`` as Ray tasks, ``workers`` at a time on this machine
    (or on the cluster at ``address``); a task whose worker dies is retried. Results in order."""
    import ray

    _start_ray(workers, address)
    try:
        remote = ray.remote(num_cpus=1, max_retries=3)(_call)
        return ray.get([remote.remote(function, item) for item in items])
    finally:
        ray.shutdown()


def total_trials(spec: SweepSpec) -> int:
    """How many trials the sweep runs."""
    return spec.trials if spec.search else len(grid_configurations(spec)) * spec.seeds


def run_sweep(spec: SweepSpec, sweep_dir: Path, workers: int | None = None, address: str | None = None) -> dict:
    """Run a new sweep into ``sweep_dir`` and summarise it."""
    spec.check()
    if (sweep_dir / SPEC).exists():
        raise ValueError(f"{sweep_dir} already holds a sweep; continue it with gymlab sweep --resume {sweep_dir}")
    check_configurations(spec)
    sweep_dir.mkdir(parents=True, exist_ok=True)
    runs.write_json(sweep_dir / SPEC, asdict(spec))
    return _fit(spec, sweep_dir, workers, address, restore=False)


def resume_sweep(sweep_dir: Path, workers: int | None = None, address: str | None = None) -> dict:
    """Continue a stopped sweep: finished trials are kept, unfinished ones continue from their
    run's newest checkpoint."""
    if not (sweep_dir / SPEC).is_file():
        raise ValueError(f"{sweep_dir} holds no sweep ({SPEC} is missing); start one with gymlab sweep AGENT ENV_ID")
    spec = SweepSpec(**json.loads((sweep_dir / SPEC).read_text()))
    return _fit(spec, sweep_dir, workers, address, restore=(sweep_dir / TUNE_DIR).exists())


def _fit(spec: SweepSpec, sweep_dir: Path, workers: int | None, address: str | None, restore: bool) -> dict:
    import ray
    from ray import tune

    _start_ray(workers, address)
    try:
        trainable = _trainable(spec, sweep_dir)
        if restore:
            tuner = tune.Tuner.restore(str((sweep_dir / TUNE_DIR).resolve()), trainable, resume_unfinished=True,
                                       restart_errored=True)  # fmt: skip
        else:
            search_alg = None
            if spec.search == "tpe":
                from ray.tune.search.optuna import OptunaSearch

                search_alg = OptunaSearch(metric="score", mode="max", seed=0)
            tuner = tune.Tuner(
                trainable,
                param_space=_param_space(spec),
                tune_config=tune.TuneConfig(
                    num_samples=spec.trials if spec.search else 1, search_alg=search_alg,
                    max_concurrent_trials=None if address else (workers or os.cpu_count()),
                ),
                run_config=tune.RunConfig(
                    name=TUNE_DIR, storage_path=str(sweep_dir.resolve()), verbose=0,
                    failure_config=tune.FailureConfig(max_failures=3),
                    callbacks=[_progress(sweep_dir.resolve(), total_trials(spec))],
                ),
            )  # fmt: skip
        grid = tuner.fit()
        errors = [
            f"{type(e).__name__}: {str(e).strip().splitlines()[-1] if str(e).strip() else ''}" for e in grid.errors
        ]
    finally:
        ray.shutdown()
    summary = summarize(sweep_dir)
    summary["errors"] = errors  # trials that failed after Ray's retries (not saved: a resume retries them)
    return summary


def finished_runs(sweep_dir: Path) -> dict[str, list[tuple[Path, dict]]]:
    """Configuration name -> [(run_dir, final evaluation), ...] of the finished trials."""
    found: dict[str, list[tuple[Path, dict]]] = {}
    for final in sorted(sweep_dir.glob(f"*/seed-*/{FINAL}")):
        found.setdefault(final.parent.parent.name, []).append((final.parent, json.loads(final.read_text())))
    return found


def learning_curve(run_dir: Path, grid: np.ndarray) -> np.ndarray:
    """A run's training episode returns at ``grid``'s steps: the mean of the episodes ending in
    each interval up to that step, carried forward through intervals without one."""
    with (run_dir / runs.EPISODES).open() as f:
        rows = [(float(r["step"]), float(r["return"])) for r in csv.DictReader(f)]
    steps = np.array([r[0] for r in rows])
    returns = np.array([r[1] for r in rows])
    curve = np.full(len(grid), np.nan)
    start = 0.0
    for i, end in enumerate(grid):
        inside = (steps > start) & (steps <= end)
        if inside.any():
            curve[i] = returns[inside].mean()
        elif i > 0:
            curve[i] = curve[i - 1]
        start = end
    return curve


def summarize(sweep_dir: Path, reps: int = stats.REPS) -> dict:
    """summary.json, the printed table, curves.png and TensorBoard events from the finished trials."""
    spec = SweepSpec(**json.loads((sweep_dir / SPEC).read_text()))
    found = finished_runs(sweep_dir)
    configurations: dict[str, dict] = {}
    for name, trials in found.items():
        scores = [final["score"] for _, final in trials]
        configurations[name] = {
            "config": trials[0][1]["config"],
            "scores": scores,
            "runs": [str(run_dir) for run_dir, _ in trials],
            **stats.summarize(scores, reps=reps),
        }
    best = max(configurations, key=lambda n: configurations[n]["iqm"]) if configurations else None
    improvements = {}
    for name, entry in configurations.items():
        if name != best:
            x, y = configurations[best]["scores"], entry["scores"]
            low, high = stats.improvement_interval(x, y)
            improvements[name] = {"probability": stats.probability_of_improvement(x, y), "low": low, "high": high}
    summary = {
        "agent": spec.agent, "env_id": spec.env_id, "score": f"mean return of {spec.final_episodes} deterministic "
        "episodes of the final weights (val split for supervised tasks)", "trials": total_trials(spec),
        "finished": sum(len(t) for t in found.values()), "best": best, "configurations": configurations,
        "improvement_of_best": improvements,
    }  # fmt: skip
    runs.write_json(sweep_dir / SUMMARY, summary)
    _plot_curves(sweep_dir, found)
    return summary


def summary_lines(summary: dict) -> list[str]:
    """The printed table: one row per configuration, best first."""
    rows = sorted(summary["configurations"].items(), key=lambda kv: -kv[1]["iqm"])
    width = max((len(name) for name, _ in rows), default=4)
    lines = [f"{summary['finished']}/{summary['trials']} trials finished; score = {summary['score']}"]
    for name, entry in rows:
        lines.append(f"{name:<{width}}  {stats.summary_text(entry)}")
    for name, p in summary["improvement_of_best"].items():
        lines.append(f"P({summary['best']} > {name}) = {p['probability']:.2f} [{p['low']:.2f}, {p['high']:.2f}]")
    return lines


def _plot_curves(sweep_dir: Path, found: dict[str, list[tuple[Path, dict]]]) -> None:
    """curves.png and SWEEP/board: each configuration's IQM return over training with its 95% band."""
    if not found:
        return
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from torch.utils.tensorboard import SummaryWriter

    last = max(final["step"] for trials in found.values() for _, final in trials)
    grid = np.linspace(last / CURVE_POINTS, last, CURVE_POINTS)
    figure, axes = plt.subplots(figsize=(7, 4))
    writer = SummaryWriter(str(sweep_dir / "board"))
    try:
        for name, trials in found.items():
            curves = np.array([learning_curve(run_dir, grid) for run_dir, _ in trials])  # (seeds, points)
            keep = ~np.isnan(curves).any(axis=0)
            centre, low, high = [], [], []
            for column in curves[:, keep].T:
                centre.append(stats.iqm(column))
                interval = stats.bootstrap_interval(column, stats.iqm, reps=1_000)
                low.append(interval[0])
                high.append(interval[1])
            steps = grid[keep]
            axes.plot(steps, centre, label=name)
            axes.fill_between(steps, low, high, alpha=0.25)
            for step, value, lo, hi in zip(steps, centre, low, high):
                for tag, figure_value in (("iqm", value), ("iqm_low", lo), ("iqm_high", hi)):
                    writer.add_scalar(f"sweep/{name}/return_{tag}", figure_value, int(step))
            config = {
                k: (v if isinstance(v, (int, float, str, bool)) else str(v)) for k, v in trials[0][1]["config"].items()
            }
            scores = [final["score"] for _, final in trials]
            writer.add_hparams({**config, "configuration": name}, {"hparam/score_iqm": stats.iqm(scores)},
                               run_name=name)  # fmt: skip
        axes.set_xlabel("environment steps")
        axes.set_ylabel("training episode return (IQM, 95% CI)")
        axes.legend(fontsize="small")
        figure.tight_layout()
        tmp = sweep_dir / "curves.png.tmp"
        figure.savefig(tmp, format="png", dpi=100)
        os.replace(tmp, sweep_dir / "curves.png")
    finally:
        plt.close(figure)
        writer.close()
