"""gymlab PPO vs Stable-Baselines3 PPO, same zoo hyperparameters, same machine, same run.

    .venv/bin/python -m bench.ppo --env CartPole-v1 --seeds 0 1 2
    .venv/bin/python -m bench.ppo --env LunarLander-v3 --seeds 0

Per seed the two trainers run one after the other, each in its own subprocess (fresh interpreter,
its own peak RSS), alternating which goes first. Prints wall-clock, steps/s, deterministic eval,
steps until the 100-episode training mean reaches the threshold, peak RSS, and gymlab/SB3 ratios;
then the raw env step rate (the ceiling) and gymlab's fraction of it. JSON goes to bench/results/.
"""

from __future__ import annotations

import argparse
import platform
import statistics

import torch

from bench.common import comparison_rows, print_table, ratio, run_worker, save_results

# eval episodes and the training-mean threshold ("solved") per env
TASKS = {
    "CartPole-v1": {"eval_episodes": 20, "threshold": 475.0},
    "LunarLander-v3": {"eval_episodes": 100, "threshold": 200.0},
}
METRICS = [
    ("wall_s", "wall-clock s"),
    ("steps_per_s", "steps/s"),
    ("eval_mean", "eval mean"),
    ("steps_to_threshold", "steps to threshold"),
    ("peak_rss_mb", "peak RSS MB"),
    ("cpu_s", "CPU s"),
]


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env", default="CartPole-v1", choices=sorted(TASKS))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--threads", type=int, default=1, help="torch threads for both trainers (default 1)")
    parser.add_argument("--steps", type=int, default=None, help="override total_steps (smoke runs)")
    parser.add_argument("--timeout", type=float, default=7200.0, help="seconds per trainer run")
    args = parser.parse_args(argv)

    task = TASKS[args.env]
    overrides = {"total_steps": args.steps} if args.steps else {}
    common = dict(agent="ppo", env_id=args.env, threads=args.threads, overrides=overrides, **task)
    runs = []
    for i, seed in enumerate(args.seeds):
        order = ["train_gymlab", "train_sb3"] if i % 2 == 0 else ["train_sb3", "train_gymlab"]
        result = {}
        for worker in order:
            result[worker] = run_worker(worker, timeout=args.timeout, seed=seed, **common)
            r = result[worker]
            print(f"seed {seed} {r['trainer']:6s}: {r['wall_s']:.1f} s, eval {r['eval_mean']:.1f}, "
                  f"threshold at {r['steps_to_threshold']}", flush=True)  # fmt: skip
        runs.append({"seed": seed, "gymlab": result["train_gymlab"], "sb3": result["train_sb3"]})

    from gymlab.config import preset

    n_envs = preset("ppo", args.env).get("n_envs", 8)
    env = run_worker("env_rate", env_id=args.env, n_envs=n_envs)

    print(f"\nPPO on {args.env}: gymlab vs Stable-Baselines3, same zoo hyperparameters "
          f"(gymlab/presets.yaml), torch threads = {args.threads} for both")  # fmt: skip
    pairs = [(f"seed {r['seed']}", r["gymlab"], r["sb3"]) for r in runs]
    if len(runs) > 1:
        mean = {side: {k: _mean([r[side].get(k) for r in runs]) for k, _ in METRICS} for side in ("gymlab", "sb3")}
        pairs.append(("mean", mean["gymlab"], mean["sb3"]))
    print_table(["run", "metric", "gymlab", "SB3", "gymlab/SB3"], comparison_rows(pairs, METRICS))
    ours = statistics.mean(r["gymlab"]["steps_per_s"] for r in runs)
    print(f"\nraw env rate ({args.env}, {n_envs} envs, gymnasium SyncVectorEnv, SAME_STEP autoreset, "
          f"random actions): {env['steps_per_s']:,.0f} steps/s")  # fmt: skip
    print(f"gymlab training steps/s as a fraction of it: {ratio(ours, env['steps_per_s']):.2f}")
    print(f"note: both trainers use torch.set_num_threads({args.threads}); gymlab's default is 1 thread, "
          f"SB3's is torch's default ({torch.get_num_threads()} here). threshold = mean of the last 100 "
          f"training episodes >= {task['threshold']:g} (full window); eval = {task['eval_episodes']} "
          "deterministic episodes. CPU s = the child's user+system time (less sensitive to other load).")  # fmt: skip
    payload = {
        "env": args.env, "threads": args.threads, "seeds": args.seeds, "overrides": overrides,
        "machine": platform.platform(), "torch": torch.__version__, "runs": runs, "env_rate": env,
    }  # fmt: skip
    path = save_results(f"ppo-{args.env}", payload)
    print(f"results: {path}")
    return payload


def _mean(values: list) -> float | None:
    """Mean over seeds; None when any seed has None (e.g. never reached the threshold)."""
    return None if any(v is None for v in values) else statistics.mean(values)


if __name__ == "__main__":
    main()
