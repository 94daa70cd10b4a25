"""Vector-env step rates, random actions: gymnasium's sync and async, gymlab's own ("auto":
envs.native) and envpool, in the same run.

    .venv/bin/python -m bench.vector
    .venv/bin/python -m bench.vector --envs CartPole-v1 ALE/Breakout-v5 --n-envs 8 16 --seconds 3

Each vector env (built by envs.make_vec_env, so Atari comes through gymlab's training pipeline
and statistics are kept as training keeps them) is reset with seed 0 and stepped with random
actions drawn beforehand, for about ``--seconds`` after 50 warm-up steps; ``--repeats`` rounds
go over every vectorization in turn and the median rate is reported with its ratio to sync.
In brackets: CPU milliseconds of this process (user+sys, envpool's threads included; async's
subprocesses are not) per 1000 steps.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
from gymnasium.vector.utils import batch_space

from envs import make_vec_env

VECTORIZATIONS = ("sync", "async", "auto", "envpool", "envpool-raw")
"""make_vec_env's vectorizations, and envpool's own vector env without gymlab's adapter (its
NEXT_STEP autoreset; Atari with envpool's episodic life, FIRE and clipping): the ceiling."""


def make(env_id: str, n_envs: int, vectorization: str):
    """The vector env to time."""
    if vectorization != "envpool-raw":
        return make_vec_env(env_id, n_envs, vectorization)
    from envs.envpool import make_pool

    atari = {"episodic_life": True, "reward_clip": True, "use_fire_reset": True} if env_id.startswith("ALE/") else {}
    return make_pool(env_id, n_envs, list(range(n_envs)), **atari)


def step_rate(env_id: str, n_envs: int, vectorization: str, seconds: float) -> tuple[float, float]:
    """(env steps per second of wall time, CPU milliseconds of this process per 1000 env steps)."""
    envs = make(env_id, n_envs, vectorization)
    try:
        envs.reset(**({} if vectorization == "envpool-raw" else {"seed": 0}))
        space = batch_space(envs.single_action_space, n_envs)  # (envpool's own action_space is one copy's)
        space.seed(0)
        actions = [space.sample() for _ in range(256)]
        for t in range(50):
            envs.step(actions[t % len(actions)])
        steps, start, cpu = 0, time.perf_counter(), time.process_time()
        while time.perf_counter() - start < seconds:
            for a in actions[:32]:
                envs.step(a)
            steps += 32 * n_envs
        wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    finally:
        envs.close()
    return steps / wall, 1e6 * cpu / steps


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--envs", nargs="+", default=["CartPole-v1", "Acrobot-v1", "MountainCar-v0", "ALE/Breakout-v5"])
    parser.add_argument("--n-envs", type=int, nargs="+", default=[8])
    parser.add_argument("--vectorizations", nargs="+", default=list(VECTORIZATIONS), choices=VECTORIZATIONS)
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    print(
        "| env | n_envs | "
        + " | ".join(f"{v} steps/s" for v in args.vectorizations)
        + " | envpool / sync | envpool / auto |"
    )
    print("|---|---:|" + "---:|" * (len(args.vectorizations) + 2))
    for env_id in args.envs:
        for n_envs in args.n_envs:
            rates: dict[str, list[float]] = {v: [] for v in args.vectorizations}
            cpus: dict[str, list[float]] = {v: [] for v in args.vectorizations}
            for _ in range(args.repeats):
                for v in args.vectorizations:
                    rate, cpu = step_rate(env_id, n_envs, v, args.seconds)
                    rates[v].append(rate)
                    cpus[v].append(cpu)
            median = {v: statistics.median(r) for v, r in rates.items()}
            cells = [f"{median[v]:,.0f} ({statistics.median(cpus[v]):.0f})" for v in args.vectorizations]
            ratios = [
                f"{median['envpool'] / median[base]:.2f}x" if "envpool" in median and base in median else "-"
                for base in ("sync", "auto")
            ]
            print(f"| {env_id} | {n_envs} | " + " | ".join(cells + ratios) + " |", flush=True)
    print(f"\nmedian of {args.repeats} rounds of ~{args.seconds:g} s each; random actions; numpy {np.__version__}")


if __name__ == "__main__":
    main()
