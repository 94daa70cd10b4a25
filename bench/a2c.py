"""gymlab A2C vs Stable-Baselines3 A2C, same rl-baselines3-zoo hyperparameters, same machine, same run.

    .venv/bin/python -m bench.a2c --env CartPole-v1 --seeds 0 1 2
    .venv/bin/python -m bench.a2c --env LunarLander-v3 --seeds 0 1 2

Both trainers take the ``a2c:`` preset of agents/presets.yaml (the zoo's a2c.yml), translated to
SB3 by :func:`bench.common.sb3_kwargs`. Per seed they run one after the other, each in its own
subprocess (fresh interpreter, its own peak RSS and CPU time), alternating which goes first.
Prints wall-clock, CPU time, steps/s, deterministic evaluation, steps until the 100-episode
training mean reaches the threshold, peak RSS, each with the gymlab/SB3 ratio; the raw env step
rate (the ceiling) and gymlab's fraction of it; then PASS/FAIL for the targets:
evaluation return >= SB3's, wall-clock <= 1/2 of SB3's, peak memory <= SB3's (means over seeds).
JSON goes to bench/results/.
"""

from __future__ import annotations

import platform

import torch

from agents.presets import preset
from bench.common import (
    TASKS,
    compare_seeds,
    comparison_parser,
    print_comparison,
    print_env_ceiling,
    ratio,
    run_worker,
    save_results,
    target,
)

METRICS = [
    ("wall_s", "wall-clock s"),
    ("train_cpu_s", "CPU s"),
    ("steps_per_s", "steps/s"),
    ("eval_mean", "eval mean"),
    ("steps_to_threshold", "steps to threshold"),
    ("peak_rss_mb", "peak RSS MB"),
]
WALL_TARGET = 0.5  # gymlab wall-clock / SB3 wall-clock


def main(argv: list[str] | None = None) -> dict:
    """Run the comparison; print tables and targets; write JSON; return the payload."""
    parser = comparison_parser(__doc__)
    args = parser.parse_args(argv)

    task = TASKS[args.env]
    overrides = {"total_steps": args.steps} if args.steps else {}
    common = dict(agent="a2c", env_id=args.env, threads=args.threads, overrides=overrides, **task)
    runs = compare_seeds(args.seeds, common, common, args.timeout)
    n_envs = preset("a2c", args.env).get("n_envs", 8)
    env = run_worker("env_rate", env_id=args.env, n_envs=n_envs)

    print(f"\nA2C on {args.env}: gymlab vs Stable-Baselines3, same zoo hyperparameters "
          f"(agents/presets.yaml a2c:), torch threads = {args.threads} for both")  # fmt: skip
    means = print_comparison(runs, METRICS)
    ours, theirs = means["gymlab"], means["sb3"]
    print()
    fraction = print_env_ceiling(env, args.env, n_envs, ours["steps_per_s"])
    print(f"eval = {task['eval_episodes']} deterministic episodes; threshold = mean of the last 100 training "
          f"episodes >= {task['threshold']:g}; CPU s = the child's CPU time (all threads) over the "
          "wall-clock span (less sensitive to other load than wall-clock).\n")  # fmt: skip
    wall, cpu = ratio(ours["wall_s"], theirs["wall_s"]), ratio(ours["train_cpu_s"], theirs["train_cpu_s"])
    targets = [
        target("eval return >= SB3's", ours["eval_mean"] >= theirs["eval_mean"],
               f"{ours['eval_mean']:.1f} vs {theirs['eval_mean']:.1f} (mean of seeds)"),
        target(f"wall-clock <= {WALL_TARGET:g} x SB3's", wall <= WALL_TARGET,
               f"ratio {wall:.2f} (CPU-time ratio {cpu:.2f}); per seed "
               + ", ".join(f"{ratio(r['gymlab']['wall_s'], r['sb3']['wall_s']):.2f}" for r in runs)),
        target("peak RSS <= SB3's", ours["peak_rss_mb"] <= theirs["peak_rss_mb"],
               f"{ours['peak_rss_mb']:.0f} MB vs {theirs['peak_rss_mb']:.0f} MB"),
    ]  # fmt: skip
    payload = {
        "env": args.env, "threads": args.threads, "seeds": args.seeds, "overrides": overrides,
        "machine": platform.platform(), "torch": torch.__version__, "runs": runs, "means": means,
        "env_rate": env, "env_rate_fraction": fraction, "targets": targets,
    }  # fmt: skip
    path = save_results(f"a2c-{args.env}", payload)
    print(f"results: {path}")
    return payload


if __name__ == "__main__":
    main()
