"""gymlab REINFORCE (the course's HW12 policy gradient) with its preset, against SB3 A2C set up as a
Monte-Carlo policy gradient with the same step budget (SB3 has no REINFORCE).

    .venv/bin/python -m bench.reinforce --env CartPole-v1 --seeds 0 1 2
    .venv/bin/python -m bench.reinforce --env LunarLander-v3 --seeds 0 1 2

Targets: CartPole-v1 deterministic evaluation mean 500 (20 episodes); LunarLander-v3 mean >= 200
in HW12's test protocol: 5 test episodes, mean total reward, actions sampled from the policy as
HW12's test loop does (``agent.sample(state)``). The mean of 5 deterministic episodes (the reading
used by agents/presets.yaml and tests/agents/test_reinforce.py) is printed beside it.

SB3 peer: A2C as Monte-Carlo PG (:func:`sb3_peer_config`), from the REINFORCE preset: same
total_steps, n_envs, gamma, learning rate and schedule, Adam, 64x64 tanh actor and critic with
orthogonal init, ent_coef, vf_coef, no gradient clipping (max_grad_norm 0, as HW12), the same
normalisation (VecNormalize) and gSDE settings; plus
gae_lambda=1.0 (advantage = discounted return-to-go - V(s_t): Monte-Carlo with a baseline),
normalize_advantage=True (HW12's standardised weights) and n_steps = the env's time limit (500 /
1000), so a rollout is as long as the longest episode; only returns crossing a rollout boundary are
bootstrapped from V. Unlike gymlab's REINFORCE it takes one value step per update (not value_steps),
at the one learning rate (SB3 has no vf_learning_rate).

Timing, memory, the alternating order and the JSON are as in bench/a2c.py (bench/common.py).
"""

from __future__ import annotations

import platform
from typing import Any

import torch

from bench.common import (
    compare_seeds,
    comparison_parser,
    print_comparison,
    print_env_ceiling,
    run_worker,
    save_results,
    target,
)

TASKS = {
    "CartPole-v1": {"eval_episodes": 20, "threshold": 475.0, "time_limit": 500},
    "LunarLander-v3": {"eval_episodes": 100, "threshold": 200.0, "time_limit": 1000},
}
# HW12's test: NUM_OF_TEST = 5 episodes, mean total reward, sampled actions
HW12_EVALS = {"hw12": {"episodes": 5, "deterministic": False}, "hw12_det": {"episodes": 5, "deterministic": True}}
METRICS = [
    ("wall_s", "wall-clock s"),
    ("train_cpu_s", "CPU s"),
    ("steps_per_s", "steps/s"),
    ("eval_mean", "eval mean"),
    ("hw12_mean", "HW12 test (5 sampled)"),
    ("hw12_det_mean", "5 det. episodes"),
    ("steps_to_threshold", "steps to threshold"),
    ("peak_rss_mb", "peak RSS MB"),
]
PEER_KEYS = ("total_steps", "n_envs", "gamma", "learning_rate", "lr_schedule", "optimizer", "hidden",
             "activation", "ortho_init", "ent_coef", "vf_coef", "max_grad_norm", "normalize_obs",
             "normalize_reward", "log_std_init", "use_sde", "sde_sample_freq")  # fmt: skip


def sb3_peer_config(env_id: str, overrides: dict[str, Any]) -> dict[str, Any]:
    """gymlab A2C keys (translated to SB3 by ``sb3_kwargs``) that make SB3's A2C a Monte-Carlo
    policy gradient with the REINFORCE preset's budget and shared hyperparameters."""
    from agents.presets import build_config, preset
    from agents.reinforce import ReinforceConfig

    config = build_config(ReinforceConfig, preset("reinforce", env_id), overrides)
    peer = {key: getattr(config, key) for key in PEER_KEYS}
    peer.update(gae_lambda=1.0, normalize_advantage=True, n_steps=TASKS[env_id]["time_limit"])
    return peer


def main(argv: list[str] | None = None) -> dict:
    """Run the comparison; print tables and targets; write JSON; return the payload."""
    parser = comparison_parser(__doc__)
    parser.add_argument("--no-peer", action="store_true", help="gymlab only (no SB3 peer)")
    args = parser.parse_args(argv)

    task = {k: v for k, v in TASKS[args.env].items() if k != "time_limit"}
    overrides = {"total_steps": args.steps} if args.steps else {}
    peer = sb3_peer_config(args.env, overrides)
    gymlab = dict(agent="reinforce", env_id=args.env, threads=args.threads, overrides=overrides,
                  extra_evals=HW12_EVALS, **task)  # fmt: skip
    sb3 = dict(agent="a2c", env_id=args.env, threads=args.threads, overrides=peer, use_preset=False,
               extra_evals=HW12_EVALS, **task)  # fmt: skip
    print(f"SB3 peer: A2C as Monte-Carlo PG, gymlab a2c keys -> sb3_kwargs: {peer}", flush=True)
    if args.no_peer:
        runs = [{"seed": s, "gymlab": run_worker("train_gymlab", args.timeout, seed=s, **gymlab), "sb3": {}}
                for s in args.seeds]  # fmt: skip
    else:
        runs = compare_seeds(args.seeds, gymlab, sb3, args.timeout)
    n_envs = peer["n_envs"]
    env = run_worker("env_rate", env_id=args.env, n_envs=n_envs)

    print(f"\nREINFORCE on {args.env}: gymlab (reinforce preset) vs SB3 peer: A2C as Monte-Carlo PG, "
          f"same step budget; torch threads = {args.threads} for both")  # fmt: skip
    means = print_comparison(runs, METRICS, peer="SB3 peer")
    ours = means["gymlab"]
    print()
    fraction = print_env_ceiling(env, args.env, n_envs, ours["steps_per_s"])
    print(f"eval mean = {task['eval_episodes']} deterministic episodes; HW12 test = 5 episodes, sampled actions; "
          f"threshold = mean of the last 100 training episodes >= {task['threshold']:g}; CPU s = the child's "
          "CPU time over the wall-clock span.\n")  # fmt: skip
    per_seed = lambda key: ", ".join(f"{r['gymlab'][key]:.1f}" for r in runs)  # noqa: E731
    if args.env == "CartPole-v1":
        targets = [target("deterministic eval mean = 500 (20 episodes)", ours["eval_mean"] >= 500.0 - 1e-6,
                          f"{ours['eval_mean']:.1f} (seeds: {per_seed('eval_mean')})")]  # fmt: skip
    else:
        targets = [
            target("HW12 test mean >= 200 (5 episodes, sampled actions)", ours["hw12_mean"] >= 200.0,
                   f"{ours['hw12_mean']:.1f} (seeds: {per_seed('hw12_mean')})"),
            target("5 deterministic episodes mean >= 200", ours["hw12_det_mean"] >= 200.0,
                   f"{ours['hw12_det_mean']:.1f} (seeds: {per_seed('hw12_det_mean')})"),
        ]  # fmt: skip
    payload = {
        "env": args.env, "threads": args.threads, "seeds": args.seeds, "overrides": overrides,
        "sb3_peer": {"label": "SB3 peer: A2C as Monte-Carlo PG", "config": peer},
        "machine": platform.platform(), "torch": torch.__version__, "runs": runs, "means": means,
        "env_rate": env, "env_rate_fraction": fraction, "targets": targets,
    }  # fmt: skip
    path = save_results(f"reinforce-{args.env}", payload)
    print(f"results: {path}")
    return payload


if __name__ == "__main__":
    main()
