"""Imitation from 10 expert episodes on CartPole-v1: behaviour cloning and GAIL against the expert.

    .venv/bin/python -m bench.imitation                      # seeds 0 1 2, GAIL reward=positive
    .venv/bin/python -m bench.imitation --seeds 0 --gail-rewards positive logit

Per seed: a gymlab PPO expert (the ``ppo: CartPole-v1`` preset, 1e5 steps) is trained, plays 10
deterministic episodes (``gymlab demos``), then BC (``bc`` preset) and GAIL (``gail`` preset, 3e5
env steps) learn from those 10 episodes only. Each learner is scored on 20 deterministic episodes
of the real env (seeds 10_000+) and reported as a fraction of the expert's return on the same
episodes. GAIL also reports the first env step where the true return of its last 20 training
episodes reaches 0.95 x the expert's. Targets: BC >= 0.9, GAIL >= 0.95. No peer library here
implements BC/GAIL (SB3 does not), so the expert is the yardstick. JSON goes to bench/results/.

LunarLander-v3 (target GAIL >= 0.9) is not run: its PPO expert alone needs ~1e6 steps
(~10 CPU-minutes per seed on this machine), before any imitation.
"""

from __future__ import annotations

import argparse
import platform
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.common import print_table, save_results

ENV_ID = "CartPole-v1"
DEMO_EPISODES = 10
EVAL_EPISODES = 20
EVAL_SEED = 10_000
TRAIN_WINDOW = 20
TARGETS = {"bc": 0.9, "gail": 0.95}


def steps_to_fraction(run_dir: Path, target: float, window: int = TRAIN_WINDOW) -> int | None:
    """First env step at which the mean true return of the last ``window`` training episodes
    (episodes.csv) reaches ``target``; None if it never does."""
    rows = np.loadtxt(run_dir / "episodes.csv", delimiter=",", skiprows=1, ndmin=2)
    for i in range(window, len(rows) + 1):
        if rows[i - window : i, 1].mean() >= target:
            return int(rows[i - 1, 0])
    return None


def run_seed(seed: int, folder: Path, gail_rewards: list[str]) -> dict:
    """Expert, demos, BC and GAIL for one seed; returns the figures."""
    from agents.imitation import record_expert_demos
    from gymlab import runs, train

    start = time.perf_counter()
    train.train("ppo", ENV_ID, seed=seed, device="cpu", run_dir=folder / "expert", quiet=True)
    demos, demos_path = record_expert_demos(folder / "expert", DEMO_EPISODES, folder / "demos.npz", seed=seed * 100)
    _, expert = runs.load_run(folder / "expert", "cpu")
    expert_eval = expert.evaluate(EVAL_EPISODES, seed=EVAL_SEED)["mean_reward"]
    result = {
        "seed": seed,
        "expert_s": time.perf_counter() - start,
        "demo_return": demos.expert_return,
        "expert_eval": expert_eval,
    }
    learners = [("bc", "bc", [])] + [(f"gail-{r}", "gail", [f"reward={r}"]) for r in gail_rewards]
    for label, agent_name, sets in learners:
        start = time.perf_counter()
        run_dir = folder / label
        _, agent, _ = train.train(
            agent_name,
            ENV_ID,
            seed=seed,
            device="cpu",
            sets=[f"demos={demos_path}", *sets],
            run_dir=run_dir,
            quiet=True,
        )
        wall = time.perf_counter() - start
        score = agent.evaluate(EVAL_EPISODES, seed=EVAL_SEED)["mean_reward"]
        result[label] = {
            "wall_s": wall,
            "env_steps": agent.num_timesteps if agent_name == "gail" else 0,
            "eval_mean": score,
            "fraction": score / expert_eval,
            "target": TARGETS[agent_name],
            "steps_to_target": steps_to_fraction(run_dir, TARGETS[agent_name] * expert_eval)
            if agent_name == "gail"
            else None,
        }
        print(f"seed {seed} {label}: {score:.1f} / expert {expert_eval:.1f} in {wall:.0f} s", flush=True)
    return result


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--gail-rewards", nargs="+", default=["positive"], choices=["positive", "logit"])
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(1)
    results = []
    with tempfile.TemporaryDirectory(prefix="bench-imitation-") as tmp:
        for seed in args.seeds:
            results.append(run_seed(seed, Path(tmp) / f"s{seed}", args.gail_rewards))
    labels = ["bc"] + [f"gail-{r}" for r in args.gail_rewards]
    rows = []
    for r in results:
        for label in labels:
            x = r[label]
            passed = "yes" if x["fraction"] >= x["target"] else "NO"
            rows.append([r["seed"], label, r["expert_eval"], x["eval_mean"], f"{x['fraction']:.3f}", f">= {x['target']}",
                         passed, x["steps_to_target"], x["env_steps"], x["wall_s"]])  # fmt: skip
    print(f"\n{ENV_ID}: imitation from {DEMO_EPISODES} expert episodes, {EVAL_EPISODES} eval episodes each")
    print_table(
        ["seed", "learner", "expert", "return", "fraction", "target", "pass", "steps to target", "env steps", "wall s"],
        rows,
    )
    payload = {
        "env_id": ENV_ID,
        "demo_episodes": DEMO_EPISODES,
        "eval_episodes": EVAL_EPISODES,
        "machine": platform.platform(),
        "results": results,
    }
    print(f"results: {save_results('imitation', payload)}")
    return payload


if __name__ == "__main__":
    main()
