"""The path users run, timed from process start: ``gymlab train`` against the learner's own
``learn()`` (the same preset, no logging) and against Stable-Baselines3's script.

Each side is a fresh ``python`` process, timed by the parent from launch to exit, so start-up
(imports, env construction) counts. Each child also reports the seconds spent in training itself,
so the table shows start-up and the command line's own cost (TensorBoard, CSV logs, checkpoints)
apart:

- ``gymlab``: ``python -m gymlab train AGENT ENV_ID --seed S --quiet --run-dir TMP``;
- ``learn``: ``AGENT(ENV_ID, seed=S).learn()`` in a bare script (the Python API, same preset);
- ``sb3``: SB3's PPO/A2C with the same hyperparameters (``gymlab.sb3.sb3_kwargs``), its
  ``make_vec_env`` and VecNormalize where the preset normalises, logging to TensorBoard as
  ``gymlab train`` does (rl-baselines3-zoo's ``--tensorboard-log``).

Usage::

    python -m bench.cli                                  # ppo, a2c, reinforce on CartPole-v1 and LunarLander-v3
    python -m bench.cli --agents a2c --envs CartPole-v1 --seed 1
    python -m bench.cli --envs CartPole-v1 --repeats 3 --no-sb3   # median of 3, order alternating
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import fmt, print_table, save_results

CHILD = "RESULT "
PEERS = ("ppo", "a2c")  # learners SB3 has


def learn_child(agent: str, env_id: str, seed: int) -> dict:
    """The Python API alone: construct with the preset, learn, no logging."""
    start = time.perf_counter()
    import agents

    imported = time.perf_counter()
    learner = agents.agent_class(agent)(env_id, seed=seed, device="cpu")
    built = time.perf_counter()
    learner.learn()
    done = time.perf_counter()
    return {"import_s": imported - start, "build_s": built - imported, "train_s": done - built,
            "steps": learner.num_timesteps}  # fmt: skip


def sb3_child(agent: str, env_id: str, seed: int, log_dir: str) -> dict:
    """SB3's script for the same preset, logging to TensorBoard."""
    start = time.perf_counter()
    import torch
    from stable_baselines3 import A2C, PPO
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.vec_env import VecNormalize

    import agents
    from agents.presets import build_config, preset
    from gymlab.sb3 import sb3_kwargs

    imported = time.perf_counter()
    config = build_config(agents.agent_class(agent).Config, preset(agent, env_id))
    torch.set_num_threads(config.threads)  # as gymlab's runs do (1): two threads on a busy machine spin
    env = make_vec_env(env_id, n_envs=config.n_envs, seed=seed, env_kwargs={"render_mode": None})
    if config.normalize_obs or config.normalize_reward:
        env = VecNormalize(env, gamma=config.gamma, norm_obs=config.normalize_obs, norm_reward=config.normalize_reward)
    cls = {"ppo": PPO, "a2c": A2C}[agent]
    model = cls("MlpPolicy", env, seed=seed, device="cpu", verbose=0, tensorboard_log=log_dir,
                **sb3_kwargs(agent, config))  # fmt: skip
    built = time.perf_counter()
    model.learn(total_timesteps=config.total_steps)
    done = time.perf_counter()
    return {"import_s": imported - start, "build_s": built - imported, "train_s": done - built,
            "steps": model.num_timesteps}  # fmt: skip


def timed(cmd: list[str]) -> tuple[float, float, str]:
    """Run ``cmd``; its wall-clock seconds from launch to exit, its CPU seconds (user + system, the
    steadier figure on a shared machine), and its stdout."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    result = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{result.stderr[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, result.stdout


def child_result(stdout: str) -> dict:
    line = next(line for line in stdout.splitlines() if line.startswith(CHILD))
    return json.loads(line[len(CHILD) :])


def measure(agent: str, env_id: str, seed: int, sb3: bool, learn_first: bool = False) -> dict:
    """The three timings of one (agent, env, seed); ``learn_first`` swaps the order of the first two."""
    python = sys.executable
    with tempfile.TemporaryDirectory() as tmp:
        cli_cmd = [python, "-m", "gymlab", "train", agent, env_id, "--seed", str(seed), "--quiet",
                   "--run-dir", str(Path(tmp) / "run")]  # fmt: skip
        learn_cmd = [python, "-m", "bench.cli", "--child", "learn", agent, env_id, str(seed)]
        if learn_first:
            learn_wall, learn_cpu, learn_out = timed(learn_cmd)
            cli_wall, cli_cpu, out = timed(cli_cmd)
        else:
            cli_wall, cli_cpu, out = timed(cli_cmd)
            learn_wall, learn_cpu, learn_out = timed(learn_cmd)
        cli_fps = next((float(line.split()[1]) for line in out.splitlines() if line.startswith("fps:")), None)
        result = {"agent": agent, "env_id": env_id, "seed": seed, "gymlab_wall_s": cli_wall, "gymlab_cpu_s": cli_cpu,
                  "gymlab_fps": cli_fps, "learn_wall_s": learn_wall, "learn_cpu_s": learn_cpu,
                  "learn": child_result(learn_out), "learn_first": learn_first}  # fmt: skip
        if sb3 and agent in PEERS:
            sb3_wall, sb3_cpu, out = timed([python, "-m", "bench.cli", "--child", "sb3", agent, env_id, str(seed), tmp])
            result.update({"sb3_wall_s": sb3_wall, "sb3_cpu_s": sb3_cpu, "sb3": child_result(out)})
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--agents", nargs="+", default=["ppo", "a2c", "reinforce"])
    parser.add_argument("--envs", nargs="+", default=["CartPole-v1", "LunarLander-v3"])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=1, help="repeat each pair, alternating which runs first")
    parser.add_argument("--no-sb3", dest="sb3", action="store_false", help="skip SB3's side")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error(f"--repeats must be >= 1, got {args.repeats}")
    if args.child:
        kind, agent, env_id, seed, *rest = args.child
        worker = learn_child if kind == "learn" else sb3_child
        print(CHILD + json.dumps(worker(agent, env_id, int(seed), *rest)), flush=True)
        return
    results = [measure(a, e, args.seed, args.sb3, learn_first=bool(r % 2))
               for e in args.envs for a in args.agents for r in range(args.repeats)]  # fmt: skip
    rows = []
    for r in results:
        learn = r["learn"]
        startup = learn["import_s"] + learn["build_s"]
        sb3_wall = r.get("sb3_wall_s")
        rows.append([
            r["agent"], r["env_id"], learn["steps"], fmt(r["gymlab_wall_s"]), fmt(r["learn_wall_s"]),
            fmt(r["gymlab_wall_s"] / r["learn_wall_s"], 2), fmt(r["gymlab_cpu_s"] / r["learn_cpu_s"], 2), fmt(startup), fmt(sb3_wall),
            fmt(r["gymlab_wall_s"] / sb3_wall, 2) if sb3_wall else "-",
        ])  # fmt: skip
    print_table(["agent", "env", "steps", "gymlab train s", "learn() s", "train / learn", "(CPU)", "start-up s", "SB3 s",
                 "gymlab / SB3"], rows)  # fmt: skip
    if args.repeats > 1:
        summary = []
        for e in args.envs:
            for a in args.agents:
                runs = [r for r in results if r["agent"] == a and r["env_id"] == e]
                wall = [r["gymlab_wall_s"] / r["learn_wall_s"] for r in runs]
                cpu = [r["gymlab_cpu_s"] / r["learn_cpu_s"] for r in runs]
                summary.append([a, e, len(runs), fmt(statistics.median(wall), 3), f"{min(wall):.2f}-{max(wall):.2f}",
                                fmt(statistics.median(cpu), 3), f"{min(cpu):.2f}-{max(cpu):.2f}"])  # fmt: skip
        print("\ntrain / learn over the repeats (median, range):")
        print_table(["agent", "env", "repeats", "wall", "wall range", "CPU", "CPU range"], summary)
    print(f"results: {save_results('cli', {'seed': args.seed, 'repeats': args.repeats, 'runs': results})}")


if __name__ == "__main__":
    main()
