"""Imitation from 10 expert episodes: behaviour cloning and GAIL against the expert.

    .venv/bin/python -m bench.imitation                      # CartPole-v1, seeds 0 1 2
    .venv/bin/python -m bench.imitation --env LunarLander-v3
    .venv/bin/python -m bench.imitation --env LunarLanderContinuous-v3   # two thrust values: a Box
    .venv/bin/python -m bench.imitation --seeds 0 --gail-rewards positive logit

Per seed: a gymlab PPO expert (the ``ppo`` preset of the env: 1e5 steps on CartPole-v1, 1e6 on
LunarLander-v3) is trained, plays 10 deterministic episodes (``gymlab demos``), then BC (``bc``
preset) and GAIL (``gail`` preset) learn from those 10 episodes only. Each learner is scored on
deterministic episodes of the real env (seeds 10_000+; 20 on CartPole-v1, 100 on LunarLander-v3)
and reported as a fraction of the expert's return on the same episodes. GAIL also reports the
first env step where the true return of its last 20 training episodes reaches the target
fraction of the expert's. Targets: CartPole-v1 BC >= 0.9 and GAIL >= 0.95; LunarLander-v3 GAIL
>= 0.9 (BC is reported without a target; LunarLanderContinuous-v3 reports both without one). ``--gail-rewards`` defaults to the reward of the env's
``gail`` preset (on LunarLander-v3 that preset also sets ``absorbing=true``: see
``agents/presets.yaml``). A LunarLander-v3 seed takes about 5 minutes here (expert ~2, GAIL 1e6
steps ~2.5). No peer library here implements BC/GAIL (SB3 does not), so the expert is the
yardstick. JSON goes to bench/results/.
"""

from __future__ import annotations

import argparse
import platform
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.common import print_table, save_results

DEMO_EPISODES = 10
EVAL_SEED = 10_000
TRAIN_WINDOW = 20
TASKS: dict[str, dict] = {
    "CartPole-v1": {"eval_episodes": 20, "targets": {"bc": 0.9, "gail": 0.95}},
    "LunarLander-v3": {"eval_episodes": 100, "targets": {"bc": None, "gail": 0.9}},
    "LunarLanderContinuous-v3": {"eval_episodes": 100, "targets": {"bc": None, "gail": None}},
}
"""Per env: deterministic evaluation episodes, and each learner's target fraction of the
expert's return (None: reported, no target)."""


def steps_to_fraction(run_dir: Path, target: float, window: int = TRAIN_WINDOW) -> int | None:
    """First env step at which the mean true return of the last ``window`` training episodes
    (episodes.csv) reaches ``target``; None if it never does."""
    rows = np.loadtxt(run_dir / "episodes.csv", delimiter=",", skiprows=1, ndmin=2)
    for i in range(window, len(rows) + 1):
        if rows[i - window : i, 1].mean() >= target:
            return int(rows[i - 1, 0])
    return None


def run_seed(env_id: str, seed: int, folder: Path, gail_rewards: list[str]) -> dict:
    """Expert, demos, BC and GAIL for one seed; returns the figures."""
    from agents import runs
    from gymlab import train
    from gymlab.play import record_expert_demos

    eval_episodes, targets = TASKS[env_id]["eval_episodes"], TASKS[env_id]["targets"]
    start = time.perf_counter()
    train.train("ppo", env_id, seed=seed, device="cpu", run_dir=folder / "expert", quiet=True)
    demos, demos_path = record_expert_demos(folder / "expert", DEMO_EPISODES, folder / "demos.npz", seed=seed * 100)
    _, expert = runs.load_run(folder / "expert", "cpu")
    expert_eval = expert.evaluate(eval_episodes, seed=EVAL_SEED)["mean_reward"]
    result = {
        "seed": seed,
        "expert_s": time.perf_counter() - start,
        "expert_steps": expert.num_timesteps,
        "demo_return": demos.expert_return,
        "demo_steps": len(demos.actions),
        "expert_eval": expert_eval,
    }
    print(f"seed {seed} expert: {expert_eval:.1f} (demos {demos.expert_return:.1f})", flush=True)
    learners = [("bc", "bc", [])] + [(f"gail-{r}", "gail", [f"reward={r}"]) for r in gail_rewards]
    for label, agent_name, sets in learners:
        start = time.perf_counter()
        run_dir = folder / label
        _, agent, _ = train.train(
            agent_name,
            env_id,
            seed=seed,
            device="cpu",
            sets=[f"demos={demos_path}", *sets],
            run_dir=run_dir,
            quiet=True,
        )
        wall = time.perf_counter() - start
        score = agent.evaluate(eval_episodes, seed=EVAL_SEED)["mean_reward"]
        target = targets[agent_name]
        result[label] = {
            "wall_s": wall,
            "env_steps": agent.num_timesteps if agent_name == "gail" else 0,
            "eval_mean": score,
            "fraction": score / expert_eval,
            "target": target,
            "steps_to_target": steps_to_fraction(run_dir, target * expert_eval)
            if agent_name == "gail" and target is not None
            else None,
        }
        print(f"seed {seed} {label}: {score:.1f} / expert {expert_eval:.1f} in {wall:.0f} s", flush=True)
    return result


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env", default="CartPole-v1", choices=sorted(TASKS))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument(
        "--gail-rewards", nargs="+", default=None, choices=["positive", "logit"], help="default: the gail preset's"
    )
    args = parser.parse_args(argv)
    import torch

    from agents.presets import preset

    torch.set_num_threads(1)
    env_id = args.env
    gail_rewards = args.gail_rewards or [preset("gail", env_id).get("reward", "positive")]
    results = []
    with tempfile.TemporaryDirectory(prefix="bench-imitation-") as tmp:
        for seed in args.seeds:
            results.append(run_seed(env_id, seed, Path(tmp) / f"s{seed}", gail_rewards))
    labels = ["bc"] + [f"gail-{r}" for r in gail_rewards]
    rows = []
    for r in results:
        for label in labels:
            x = r[label]
            target = "-" if x["target"] is None else f">= {x['target']}"
            passed = "-" if x["target"] is None else "yes" if x["fraction"] >= x["target"] else "NO"
            rows.append([r["seed"], label, r["expert_eval"], x["eval_mean"], f"{x['fraction']:.3f}", target,
                         passed, x["steps_to_target"], x["env_steps"], x["wall_s"]])  # fmt: skip
    eval_episodes = TASKS[env_id]["eval_episodes"]
    print(f"\n{env_id}: imitation from {DEMO_EPISODES} expert episodes, {eval_episodes} eval episodes each")
    print_table(
        ["seed", "learner", "expert", "return", "fraction", "target", "pass", "steps to target", "env steps", "wall s"],
        rows,
    )
    payload = {
        "env_id": env_id,
        "demo_episodes": DEMO_EPISODES,
        "eval_episodes": eval_episodes,
        "machine": platform.platform(),
        "results": results,
    }
    print(f"results: {save_results(f'imitation-{env_id}', payload)}")
    return payload


if __name__ == "__main__":
    main()
