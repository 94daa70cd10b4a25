"""gymlab sweep on Ray against the same runs one after another, in the same run.

    .venv/bin/python -m bench.sweep                       # 4 seeds of PPO CartPole-v1, 1e5 steps, 2 workers
    .venv/bin/python -m bench.sweep --seeds 2 --steps 20000

Both sides are timed from process start, as a user runs them: N ``gymlab train`` commands one
after another against one ``gymlab sweep --seeds N --workers W`` (which also scores each trial's
final weights and writes the summary). Prints both wall times, their ratio (1/W is the ideal), Ray's
start-up (``ray.init`` to a finished task, and shutdown), and the per-trial overhead: the sweep's
wall time beyond start-up and the trials' own time spread over the workers.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import save_results


def gymlab(*args: str) -> float:
    """Run ``python -m gymlab ARGS``; wall seconds from process start."""
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "gymlab", *args], check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def ray_startup(workers: int) -> float:
    """Seconds from ``ray.init`` to a finished trivial task, plus shutdown."""
    import ray

    start = time.perf_counter()
    ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False)
    ray.get(ray.remote(lambda: None).remote())
    ray.shutdown()
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> dict:
    """Run both, print the table, save JSON."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--agent", default="ppo")
    parser.add_argument("--env", default="CartPole-v1")
    parser.add_argument("--seeds", type=int, default=4)
    parser.add_argument("--steps", type=int, default=100_000)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        steps = ["--steps", str(args.steps)]
        alone = sum(
            gymlab("train", args.agent, args.env, "--seed", str(seed), *steps, "--run-dir", str(root / f"s{seed}"))
            for seed in range(args.seeds)
        )
        startup = ray_startup(args.workers)
        swept = gymlab("sweep", args.agent, args.env, "--seeds", str(args.seeds), *steps, "--workers",
                       str(args.workers), "--run-dir", str(root / "sweep"))  # fmt: skip
        trials = [json.loads(p.read_text()) for p in (root / "sweep").glob("base/seed-*/final_evaluation.json")]
    trial_wall = sum(t["wall_s"] for t in trials)
    overhead = (swept - startup - trial_wall / args.workers) / len(trials)
    payload = {
        "agent": args.agent, "env": args.env, "seeds": args.seeds, "steps": args.steps, "workers": args.workers,
        "sequential_s": alone, "sweep_s": swept, "ratio": swept / alone, "ideal_ratio": 1 / args.workers,
        "ray_startup_s": startup, "trial_wall_s": trial_wall, "per_trial_overhead_s": overhead,
    }  # fmt: skip
    print(f"\n{args.seeds} seeds of {args.agent} on {args.env}, {args.steps} steps each")
    print(f"  gymlab train x {args.seeds}:        {alone:7.1f} s   (one after another)")
    print(
        f"  gymlab sweep, {args.workers} workers:    {swept:7.1f} s   ratio {swept / alone:.2f} (ideal {1 / args.workers:.2f})"
    )
    print(f"  Ray start-up + shutdown:   {startup:7.1f} s")
    print(f"  per-trial overhead:        {overhead:7.1f} s   (sweep wall - start-up - trial time / workers, per trial)")
    print(f"results: {save_results('sweep', payload)}")
    return payload


if __name__ == "__main__":
    main()
