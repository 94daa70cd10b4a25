"""gymlab PPO vs Stable-Baselines3 PPO, same zoo hyperparameters, same machine, same run.

    .venv/bin/python -m bench.ppo --env CartPole-v1 --seeds 0 1 2
    .venv/bin/python -m bench.ppo --env LunarLander-v3 --seeds 0 1 2
    .venv/bin/python -m bench.ppo --env LunarLander-v3 --merge A.json B.json   # pool seeds run apart

Both trainers take the ``ppo:`` preset of agents/presets.yaml (the zoo's ppo.yml), translated to
SB3 by :func:`bench.common.sb3_kwargs`. Per seed the two run one after the other, each in its own
subprocess (fresh interpreter, its own peak RSS and CPU time), alternating which goes first.
Prints wall-clock, CPU time, steps/s, deterministic eval, steps until the 100-episode training
mean reaches the threshold, peak RSS, and gymlab/SB3 ratios; then the raw env step rate (the
ceiling) and gymlab's fraction of it; then PASS/FAIL for the targets: eval 500 on every seed
(CartPole) or >= 241 (LunarLander), wall-clock <= 1/3 (CartPole) or 1/2 (LunarLander) of SB3's,
steps to the threshold no more than SB3's, peak memory <= SB3's. JSON goes to bench/results/.
"""

from __future__ import annotations

import json
import platform
from pathlib import Path

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
# per env: the evaluation every seed must reach, and the wall-clock ratio to SB3 to stay under;
# another env is held to SB3's own evaluation (mean of seeds) and half its wall-clock
TARGETS = {"CartPole-v1": (500.0, 1 / 3), "LunarLander-v3": (241.0, 1 / 2)}


def main(argv: list[str] | None = None) -> dict:
    """Run the comparison; print tables and targets; write JSON; return the payload."""
    parser = comparison_parser(__doc__)
    parser.add_argument("--merge", nargs="+", metavar="JSON", default=None,
                        help="train nothing: pool the seeds of earlier result files of this env (e.g. seeds run "
                             "in parallel or on other machines) and report them as one run")  # fmt: skip
    args = parser.parse_args(argv)
    task = TASKS[args.env]
    overrides = {"total_steps": args.steps} if args.steps else {}
    n_envs = preset("ppo", args.env).get("n_envs", 8)
    if args.merge:
        if args.steps:
            parser.error("--steps does not apply to --merge (the files' runs are already made)")
        runs, env, overrides = merged_runs(args.merge, args.env)
        args.seeds = [r["seed"] for r in runs]
    else:
        common = dict(agent="ppo", env_id=args.env, threads=args.threads, overrides=overrides, **task)
        runs = compare_seeds(args.seeds, common, common, args.timeout)
        env = run_worker("env_rate", env_id=args.env, n_envs=n_envs)

    print(f"\nPPO on {args.env}: gymlab vs Stable-Baselines3, same zoo hyperparameters "
          f"(agents/presets.yaml ppo:), torch threads = {args.threads} for both")  # fmt: skip
    means = print_comparison(runs, METRICS)
    ours, theirs = means["gymlab"], means["sb3"]
    print()
    fraction = print_env_ceiling(env, args.env, n_envs, ours["steps_per_s"])
    print(f"eval = {task['eval_episodes']} deterministic episodes; threshold = mean of the last 100 training "
          f"episodes >= {task['threshold']:g} (full window); CPU s = the child's CPU time over the wall-clock "
          "span (less sensitive to other load than wall-clock).\n")  # fmt: skip
    eval_target, wall_target = TARGETS.get(args.env, (None, 1 / 2))
    wall, cpu = ratio(ours["wall_s"], theirs["wall_s"]), ratio(ours["train_cpu_s"], theirs["train_cpu_s"])
    per_seed = [(r["gymlab"]["steps_to_threshold"], r["sb3"]["steps_to_threshold"]) for r in runs]
    if eval_target is None:
        eval_check = target(
            "eval return >= SB3's",
            ours["eval_mean"] >= theirs["eval_mean"],
            f"{ours['eval_mean']:.1f} vs {theirs['eval_mean']:.1f} (mean of seeds)",
        )
    else:
        eval_check = target(
            f"eval >= {eval_target:g} on every seed",
            all(r["gymlab"]["eval_mean"] >= eval_target for r in runs),
            ", ".join(f"{r['gymlab']['eval_mean']:.1f}" for r in runs),
        )
    targets = [
        eval_check,
        target(f"wall-clock <= {wall_target:.2f} x SB3's", wall <= wall_target,
               f"ratio {wall:.2f} (CPU-time ratio {cpu:.2f}); per seed "
               + ", ".join(f"{ratio(r['gymlab']['wall_s'], r['sb3']['wall_s']):.2f}" for r in runs)),
        target("peak RSS <= SB3's", ours["peak_rss_mb"] <= theirs["peak_rss_mb"],
               f"{ours['peak_rss_mb']:.0f} MB vs {theirs['peak_rss_mb']:.0f} MB"),
    ]  # fmt: skip
    if args.env == "CartPole-v1":  # the sample-efficiency target is CartPole's
        targets.append(target("steps to threshold <= SB3's", all(o is not None and (t is None or o <= t) for o, t in per_seed),
                              ", ".join(f"{o} vs {t}" for o, t in per_seed)))  # fmt: skip
    statistics = print_statistics(runs, args.env) if len(runs) > 1 else {}
    if len(runs) >= 20:  # the honest form of the per-seed targets: gymlab's IQM inside SB3's 95% interval or better
        for key, better in (("eval_mean", "higher"), ("steps_to_threshold", "lower")):
            if key in statistics:
                ours_iqm, theirs_entry = statistics[key]["gymlab"]["iqm"], statistics[key]["sb3"]
                inside = (
                    ours_iqm >= theirs_entry["iqm_low"] if better == "higher" else ours_iqm <= theirs_entry["iqm_high"]
                )
                targets.append(target(f"{key} IQM within SB3's 95% interval or better", inside,
                                      f"{ours_iqm:.1f} vs SB3 {theirs_entry['iqm']:.1f} "
                                      f"[{theirs_entry['iqm_low']:.1f}, {theirs_entry['iqm_high']:.1f}]"))  # fmt: skip
    payload = {
        "statistics": statistics,
        "env": args.env, "threads": args.threads, "seeds": args.seeds, "overrides": overrides, "merged": args.merge,
        "machine": platform.platform(), "torch": torch.__version__, "runs": runs, "means": means,
        "env_rate": env, "env_rate_fraction": fraction, "targets": targets,
    }  # fmt: skip
    path = save_results(f"ppo-{args.env}", payload)
    print(f"results: {path}")
    return payload


def merged_runs(paths: list[str], env_id: str) -> tuple[list[dict], dict, dict]:
    """The runs of several ``bench.ppo`` result files, which must share the env and the step budget and
    hold distinct seeds; with the first file's env rate and the shared overrides."""
    runs, env, overrides, threads = [], None, None, None
    for path in paths:
        try:
            payload = json.loads(Path(path).read_text())
        except (OSError, ValueError) as err:
            raise SystemExit(f"bench.ppo: cannot read {path}: {err}") from None
        if not isinstance(payload, dict) or not payload.get("runs") or "env_rate" not in payload:
            raise SystemExit(f"bench.ppo: {path} is not a bench.ppo result (no 'runs' or 'env_rate')")
        if payload.get("merged"):
            raise SystemExit(f"bench.ppo: {path} is itself a merge; give the files it pooled instead")
        if payload.get("env") != env_id:
            raise SystemExit(f"bench.ppo: {path} holds {payload.get('env')!r}, not {env_id!r}")
        these = payload.get("overrides", {}), payload.get("threads")
        if overrides is not None and these[0] != overrides:
            raise SystemExit(f"bench.ppo: {path} ran with {these[0]}, the others with {overrides}")
        if threads is not None and these[1] != threads:
            raise SystemExit(f"bench.ppo: {path} ran with {these[1]} threads, the others with {threads}")
        overrides, threads = these
        env = env or payload["env_rate"]
        runs += payload["runs"]
    seeds = [r["seed"] for r in runs]
    if len(set(seeds)) != len(seeds):
        raise SystemExit(f"bench.ppo: a seed appears in more than one file: {sorted(seeds)}")
    return sorted(runs, key=lambda r: r["seed"]), env, overrides


def print_statistics(runs: list[dict], env_id: str) -> dict:
    """Over the seeds, per side: IQM, mean and median with 95% stratified-bootstrap intervals
    (agents.stats), and the probability that a gymlab seed does better than an SB3 seed. Seeds that
    never reached the threshold count as the whole budget for steps to threshold."""
    from agents import stats

    out: dict = {}
    print(f"\nover {len(runs)} seeds (95% stratified-bootstrap intervals; Agarwal et al. 2021):")
    for key, sign in (("eval_mean", 1), ("steps_to_threshold", -1)):
        sides = {}
        for side in ("gymlab", "sb3"):
            values = [r[side][key] if r[side][key] is not None else r[side]["steps"] for r in runs]
            sides[side] = {"values": values, **stats.summarize(values)}
            print(f"  {key:<20s} {side:<6s} {stats.summary_text(sides[side])}")
        x = [sign * v for v in sides["gymlab"]["values"]]
        y = [sign * v for v in sides["sb3"]["values"]]
        low, high = stats.improvement_interval(x, y)
        sides["p_gymlab_better"] = {"probability": stats.probability_of_improvement(x, y), "low": low, "high": high}
        print(f"  {key:<20s} P(gymlab better than SB3) = {sides['p_gymlab_better']['probability']:.2f} "
              f"[{low:.2f}, {high:.2f}]")  # fmt: skip
        out[key] = sides
    return out


if __name__ == "__main__":
    main()
