"""Reusable parts of the gymlab-vs-Stable-Baselines3 benchmarks.

Every trainer runs in its own subprocess (``python -m bench.common WORKER JSON``), so each gets a
clean interpreter and its own peak resident memory, read with ``os.wait4`` (per-child rusage;
``RUSAGE_CHILDREN`` would only give the largest child so far). The child prints one
``RESULT {json}`` line. Workers:

- ``train_gymlab``: a gymlab learner with its preset (``agents/presets.yaml``), timed around
  construction + ``learn()``; then a deterministic evaluation.
- ``train_sb3``: the same hyperparameters translated to SB3 (:func:`sb3_kwargs`), SB3's own
  ``make_vec_env`` (DummyVecEnv + Monitor, render_mode None as gymlab's), timed the same way,
  evaluated with ``evaluate_policy``.
- ``env_rate``: the raw step rate of gymlab's vector env (random actions) -- gymlab cannot pass it.

Both trainers record the env step at which the mean return of the last 100 finished training
episodes first reaches a threshold (a full window of 100 episodes is required).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from pathlib import Path
from typing import Any

from gymlab.sb3 import sb3_kwargs

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
EVAL_SEED = 10_000  # evaluation episode i of training seed s is reset with seed EVAL_SEED + s + i
WINDOW = 100  # episodes in the training mean, as SB3's ep_info_buffer and gymlab's rollout/ep_rew_mean


# ----------------------------------------------------------------------------- subprocess runner


# eval episodes and the training-mean threshold ("solved") per control env
TASKS: dict[str, dict[str, float]] = {
    "CartPole-v1": {"eval_episodes": 20, "threshold": 475.0},
    "LunarLander-v3": {"eval_episodes": 100, "threshold": 200.0},
    "Acrobot-v1": {"eval_episodes": 20, "threshold": -100.0},
    "Pendulum-v1": {"eval_episodes": 20, "threshold": -200.0},
    "HalfCheetah-v5": {"eval_episodes": 10, "threshold": 3000.0},
    "Hopper-v5": {"eval_episodes": 10, "threshold": 2000.0},
}


def comparison_parser(doc: str | None) -> argparse.ArgumentParser:
    """The command line every gymlab-vs-SB3 benchmark shares: --env, --seeds, --threads, --steps, --timeout."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env", default="CartPole-v1", choices=sorted(TASKS))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--threads", type=int, default=1, help="torch threads for both trainers (default 1)")
    parser.add_argument("--steps", type=int, default=None, help="override total_steps (smoke runs)")
    parser.add_argument("--timeout", type=float, default=7200.0, help="seconds per trainer run")
    return parser


def run_worker(worker: str, timeout: float | None = None, **kwargs: Any) -> dict[str, Any]:
    """Run ``worker(**kwargs)`` of this module in a fresh interpreter; return its result dict plus
    ``peak_rss_mb`` (the child's own peak resident memory, from ``os.wait4``), ``cpu_s`` (its user +
    system time) and ``process_s`` (its whole lifetime, interpreter start included). The trainers also report
    ``train_cpu_s``: the child's CPU time (all threads) over the same span as ``wall_s``."""
    cmd = [sys.executable, "-m", "bench.common", worker, json.dumps(kwargs)]
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    env.setdefault("SDL_VIDEODRIVER", "dummy")
    start = time.perf_counter()
    with tempfile.TemporaryFile(mode="w+") as err_file:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=err_file, text=True)
        timer = threading.Timer(timeout, proc.kill) if timeout else None
        if timer is not None:
            timer.start()
        out = proc.stdout.read()
        proc.stdout.close()
        # Reap the child ourselves: wait4 gives this child's rusage (RUSAGE_CHILDREN would give
        # the largest of all children so far).
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        if timer is not None:
            timer.cancel()
        err_file.seek(0)
        err = err_file.read()
    lines = [line for line in out.splitlines() if line.startswith("RESULT ")]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"{worker} {kwargs} failed (exit {proc.returncode}):\n{err[-3000:]}")
    result = json.loads(lines[-1][len("RESULT ") :])
    result["process_s"] = time.perf_counter() - start
    result["peak_rss_mb"] = usage.ru_maxrss / 1024  # KiB on Linux
    result["cpu_s"] = usage.ru_utime + usage.ru_stime
    return result


def self_usage() -> dict[str, float]:
    """This process's peak RSS (MB, from /proc VmHWM when present) and CPU seconds."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_SELF)
    peak = usage.ru_maxrss / 1024
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                peak = int(line.split()[1]) / 1024
    except OSError:
        pass
    return {"self_peak_rss_mb": peak, "self_cpu_s": usage.ru_utime + usage.ru_stime}


# ----------------------------------------------------------------------------- training-curve tracking


class ThresholdTracker:
    """Feed finished episodes in order; remembers the env step at which the mean return of the
    last ``WINDOW`` episodes first reached ``threshold``."""

    def __init__(self, threshold: float):
        self.threshold = threshold
        self.window: deque[float] = deque(maxlen=WINDOW)
        self.episodes = 0
        self.reached_at: int | None = None

    def add(self, step: int, episode_return: float) -> None:
        self.window.append(episode_return)
        self.episodes += 1
        if self.reached_at is None and len(self.window) == WINDOW and sum(self.window) / WINDOW >= self.threshold:
            self.reached_at = step

    def mean(self) -> float:
        return sum(self.window) / len(self.window) if self.window else math.nan


# ----------------------------------------------------------------------------- hyperparameters


def gymlab_preset(agent: str, env_id: str, overrides: dict | None = None) -> dict[str, Any]:
    """gymlab's preset for (agent, env_id) with ``overrides`` on top."""
    from agents.presets import preset

    return {**preset(agent, env_id), **(overrides or {})}


# ----------------------------------------------------------------------------- workers (run in the child)


def train_gymlab(agent: str, env_id: str, seed: int, threads: int = 1, overrides: dict | None = None,
                 eval_episodes: int = 20, threshold: float = math.inf,
                 extra_evals: dict[str, dict] | None = None) -> dict[str, Any]:  # fmt: skip
    """Train a gymlab learner with its preset; time it; evaluate deterministically (and with each of
    ``extra_evals``: name -> ``{"episodes": N, "deterministic": bool}``, reported as ``NAME_mean``)."""
    import agents
    from agents.presets import build_config

    cls = agents.agent_class(agent)
    config = build_config(cls.Config, gymlab_preset(agent, env_id, {**(overrides or {}), "threads": threads}))
    tracker = ThresholdTracker(threshold)

    def on_iteration(learner, metrics) -> None:
        for step, episode_return, _ in learner.episodes.drain():
            tracker.add(step, episode_return)

    start, cpu_start = time.perf_counter(), time.process_time()
    learner = cls(env_id, config, seed=seed, device="cpu")
    learner.learn(callback=on_iteration)
    wall, train_cpu = time.perf_counter() - start, time.process_time() - cpu_start
    steps = learner.num_timesteps
    evaluation = learner.evaluate(episodes=eval_episodes, deterministic=True, seed=EVAL_SEED + seed)
    extra = {}
    for name, spec in (extra_evals or {}).items():
        e = learner.evaluate(episodes=spec["episodes"], deterministic=spec["deterministic"], seed=EVAL_SEED + seed)
        extra[f"{name}_mean"] = e["mean_reward"]
    learner.close()
    import torch

    return {
        "trainer": "gymlab", "wall_s": wall, "train_cpu_s": train_cpu, "steps": steps, "steps_per_s": steps / wall,
        "eval_mean": evaluation["mean_reward"], "eval_std": evaluation["std_reward"],
        "steps_to_threshold": tracker.reached_at, "final_train_mean": tracker.mean(),
        "episodes": tracker.episodes, "threads": torch.get_num_threads(), **extra, **self_usage(),
    }  # fmt: skip


def train_sb3(agent: str, env_id: str, seed: int, threads: int = 1, overrides: dict | None = None,
              eval_episodes: int = 20, threshold: float = math.inf, extra_evals: dict[str, dict] | None = None,
              use_preset: bool = True) -> dict[str, Any]:  # fmt: skip
    """Train SB3's learner with the same hyperparameters (from gymlab's preset); time; evaluate.

    ``use_preset=False`` builds the config from ``overrides`` on the gymlab ``agent`` config's
    defaults alone (e.g. SB3 A2C set up as a peer for another gymlab learner)."""
    import torch
    from stable_baselines3 import A2C, PPO
    from stable_baselines3.common.callbacks import BaseCallback
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.evaluation import evaluate_policy
    from stable_baselines3.common.vec_env import VecNormalize

    import agents
    from agents.presets import build_config

    layers = gymlab_preset(agent, env_id, overrides) if use_preset else dict(overrides or {})
    config = build_config(agents.agent_class(agent).Config, layers)
    torch.set_num_threads(threads)
    tracker = ThresholdTracker(threshold)

    class Track(BaseCallback):
        def _on_step(self) -> bool:
            for info in self.locals["infos"]:
                if "episode" in info:
                    tracker.add(self.num_timesteps, float(info["episode"]["r"]))
            return True

    # SB3's make_vec_env defaults to render_mode="rgb_array"; gymlab trains with None. LunarLander
    # then adds decorative particle bodies that only render() retires, slowing Box2D 3-4x: pass None.
    no_render = {"render_mode": None}
    start, cpu_start = time.perf_counter(), time.process_time()
    env = make_vec_env(env_id, n_envs=config.n_envs, seed=seed, env_kwargs=no_render)
    normalize = {"norm_obs": config.normalize_obs, "norm_reward": config.normalize_reward}
    if any(normalize.values()):  # gymlab's normalize_obs / normalize_reward are VecNormalize's
        env = VecNormalize(env, gamma=config.gamma, **normalize)
    cls = {"ppo": PPO, "a2c": A2C}[agent]
    model = cls("MlpPolicy", env, seed=seed, device="cpu", verbose=0, **sb3_kwargs(agent, config))
    model.learn(total_timesteps=config.total_steps, callback=Track())
    wall, train_cpu = time.perf_counter() - start, time.process_time() - cpu_start
    steps = model.num_timesteps

    def eval_env():
        """A fresh evaluation env; with VecNormalize, the training statistics, frozen, raw rewards."""
        single = make_vec_env(env_id, n_envs=1, seed=EVAL_SEED + seed, env_kwargs=no_render)
        if not isinstance(env, VecNormalize):
            return single
        frozen = VecNormalize(single, training=False, norm_obs=env.norm_obs, norm_reward=False)
        frozen.obs_rms = env.obs_rms
        return frozen

    mean, std = evaluate_policy(model, eval_env(), n_eval_episodes=eval_episodes, deterministic=True)
    extra = {}
    for name, spec in (extra_evals or {}).items():
        m, _ = evaluate_policy(model, eval_env(), n_eval_episodes=spec["episodes"], deterministic=spec["deterministic"])
        extra[f"{name}_mean"] = float(m)
    return {
        "trainer": "sb3", "wall_s": wall, "train_cpu_s": train_cpu, "steps": steps, "steps_per_s": steps / wall,
        "eval_mean": float(mean), "eval_std": float(std),
        "steps_to_threshold": tracker.reached_at, "final_train_mean": tracker.mean(),
        "episodes": tracker.episodes, "threads": torch.get_num_threads(), **extra, **self_usage(),
    }  # fmt: skip


def env_rate(env_id: str, n_envs: int, vector_steps: int = 5000, seed: int = 0) -> dict[str, Any]:
    """Env steps per second of the vector env gymlab trains on (``vectorization=auto``: SAME_STEP
    autoreset, episode statistics) under random actions: the ceiling for gymlab on this machine.
    For an env with a native vector implementation, gymnasium's SyncVectorEnv of the same env is
    timed too (``sync_steps_per_s``), the kind of vector env SB3's DummyVecEnv is."""
    import envs

    def rate(vectorization: str) -> tuple[float, float]:
        vec = envs.make_vec_env(env_id, n_envs, vectorization)
        vec.reset(seed=seed)
        vec.action_space.seed(seed)
        actions = [vec.action_space.sample() for _ in range(256)]
        start = time.perf_counter()
        for i in range(vector_steps):
            vec.step(actions[i % len(actions)])
        wall = time.perf_counter() - start
        vec.close()
        return wall, vector_steps * n_envs / wall

    sync_rate = rate("sync")[1]
    wall, steps_per_s = rate("auto")
    kind = type(envs.make_vec_env(env_id, n_envs, "auto")).__name__
    return {"trainer": "env", "wall_s": wall, "steps": vector_steps * n_envs, "steps_per_s": steps_per_s,
            "vector_env": kind, "sync_steps_per_s": sync_rate, **self_usage()}  # fmt: skip


WORKERS = {"train_gymlab": train_gymlab, "train_sb3": train_sb3, "env_rate": env_rate}


# ----------------------------------------------------------------------------- reporting


def fmt(value: Any, digits: int = 1) -> str:
    """A table cell: numbers rounded, None as '-'."""
    if value is None:
        return "-"
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        return f"{value:,.{digits}f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def ratio(a: float | None, b: float | None) -> float | None:
    """a / b, or None when either is missing or b is 0."""
    if a is None or b is None or b == 0:
        return None
    return a / b


def print_table(headers: list[str], rows: list[list[Any]], out=None) -> None:
    """Print rows as an aligned plain-text table (right-aligned numbers)."""
    out = out or sys.stdout
    cells = [[fmt(c) if not isinstance(c, str) else c for c in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) if cells else len(h) for i, h in enumerate(headers)]
    print("  ".join(h.rjust(w) for h, w in zip(headers, widths)), file=out)
    print("  ".join("-" * w for w in widths), file=out)
    for row in cells:
        print("  ".join(c.rjust(w) for c, w in zip(row, widths)), file=out)


def comparison_rows(pairs: list[tuple[str, dict, dict]], metrics: list[tuple[str, str]]) -> list[list[Any]]:
    """Rows ``[label, metric, gymlab, sb3, gymlab/sb3]`` for each (label, gymlab, sb3) pair."""
    rows = []
    for label, ours, theirs in pairs:
        for key, name in metrics:
            a, b = ours.get(key), theirs.get(key)
            r = ratio(a, b)
            rows.append([label, name, a, b, "-" if r is None else f"{r:.2f}"])
    return rows


def compare_seeds(seeds: list[int], gymlab: dict[str, Any], sb3: dict[str, Any],
                  timeout: float | None = None) -> list[dict[str, Any]]:  # fmt: skip
    """Run ``train_gymlab(**gymlab)`` and ``train_sb3(**sb3)`` once per seed, one after the other,
    alternating which goes first (so slow drift in the machine's load hits both sides alike); print
    a line per run; return ``[{"seed", "gymlab", "sb3"}, ...]``."""
    runs = []
    for i, seed in enumerate(seeds):
        sides = [("gymlab", "train_gymlab", gymlab), ("sb3", "train_sb3", sb3)]
        result: dict[str, Any] = {"seed": seed}
        for side, worker, kwargs in sides if i % 2 == 0 else sides[::-1]:
            r = result[side] = run_worker(worker, timeout=timeout, seed=seed, **kwargs)
            print(f"seed {seed} {side:6s}: {r['wall_s']:.1f} s wall, {r['train_cpu_s']:.1f} s CPU, "
                  f"eval {r['eval_mean']:.1f}, threshold at {r['steps_to_threshold']}", flush=True)  # fmt: skip
        runs.append(result)
    return runs


def seed_mean(values: list) -> float | None:
    """Mean over seeds; None when any seed has None (e.g. never reached the threshold)."""
    return None if any(v is None for v in values) else sum(values) / len(values)


def mean_run(runs: list[dict[str, Any]], side: str, keys: list[str]) -> dict[str, float | None]:
    """Per-key mean over seeds of one side (``"gymlab"`` or ``"sb3"``) of :func:`compare_seeds` runs."""
    return {key: seed_mean([r[side].get(key) for r in runs]) for key in keys}


def print_comparison(runs: list[dict[str, Any]], metrics: list[tuple[str, str]], peer: str = "SB3") -> dict:
    """Table of every metric per seed and the mean over seeds, with gymlab/peer ratios; returns the
    means ``{"gymlab": {...}, "sb3": {...}}``."""
    keys = [key for key, _ in metrics]
    means = {side: mean_run(runs, side, keys) for side in ("gymlab", "sb3")}
    pairs = [(f"seed {r['seed']}", r["gymlab"], r["sb3"]) for r in runs]
    if len(runs) > 1:
        pairs.append(("mean", means["gymlab"], means["sb3"]))
    print_table(["run", "metric", "gymlab", peer, f"gymlab/{peer}"], comparison_rows(pairs, metrics))
    return means


def print_env_ceiling(env: dict[str, Any], env_id: str, n_envs: int, gymlab_steps_per_s: float) -> float | None:
    """The raw env step rate line and gymlab's training steps/s as a fraction of it (returned)."""
    fraction = ratio(gymlab_steps_per_s, env["steps_per_s"])
    print(f"raw env rate ({env_id}, {n_envs} envs, gymlab's {env['vector_env']}, SAME_STEP autoreset, random "
          f"actions): {env['steps_per_s']:,.0f} steps/s; gymlab training reaches {fmt(fraction, 2)} of it")  # fmt: skip
    print(f"  (the same env in gymnasium's SyncVectorEnv + RecordEpisodeStatistics, the kind of vector env "
          f"SB3's DummyVecEnv is: {env['sync_steps_per_s']:,.0f} steps/s)")  # fmt: skip
    return fraction


def target(name: str, passed: bool, detail: str) -> dict[str, Any]:
    """Print one ``PASS``/``FAIL`` line for a benchmark target; return it for the JSON."""
    print(f"{'PASS' if passed else 'FAIL'}  {name}: {detail}")
    return {"target": name, "passed": bool(passed), "detail": detail}


def code_version() -> dict[str, Any]:
    """The git commit benchmarked and the source files that differ from it (so a result can be
    tied to the code that produced it when the tree changes between runs)."""

    def git(*args: str) -> str:
        try:
            return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=10).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""

    changed = git("status", "--porcelain", "--", "agents", "envs", "gymlab", "bench").splitlines()
    return {"commit": git("rev-parse", "HEAD"), "changed": [line.split(maxsplit=1)[-1] for line in changed]}


def save_results(name: str, payload: dict) -> Path:
    """Write ``payload`` (plus ``code_version``) as JSON to ``bench/results/NAME-<time>.json``; return the path."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}-{time.strftime('%Y%m%d-%H%M%S')}.json"
    payload = {**payload, "code_version": code_version()}
    path.write_text(json.dumps(payload, indent=2, default=str))
    return path


def main(argv: list[str]) -> None:
    """Child entry point: ``python -m bench.common WORKER JSON_KWARGS``."""
    worker, kwargs = argv[0], json.loads(argv[1])
    if ":" in worker:  # another benchmark's own worker, "module:function"
        import importlib

        module, name = worker.split(":")
        result = getattr(importlib.import_module(module), name)(**kwargs)
    else:
        result = WORKERS[worker](**kwargs)
    print("RESULT " + json.dumps(result), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
