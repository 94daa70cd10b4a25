"""``gymlab record`` against a plain Stable-Baselines3 + RecordVideo script, each timed from
process start, on the same policy and env.

    .venv/bin/python -m bench.record                      # trains ppo CartPole-v1 first (1e5 steps)
    .venv/bin/python -m bench.record --run runs/CartPole-v1/ppo-s0-...  --episodes 1

The gymlab run is exported to an SB3 .zip (``gymlab export``), so all arms play the same weights
and the same episode (500 steps for a solved CartPole). Arms, each a fresh ``python`` process:

- ``render only``: make the env with render_mode="rgb_array", step the SB3 model, call render()
  each step, write nothing -- the env's render speed, the floor;
- ``sb3 script``: ``PPO.load``, ``gymnasium.wrappers.RecordVideo``, one deterministic episode
  (what an SB3 user writes);
- ``gymlab record zip``: ``gymlab record MODEL.zip --env ENV`` (mp4 only: no run to log to);
- ``gymlab record run``: ``gymlab record RUN_DIR`` (mp4 and the TensorBoard GIF).

Reports wall-clock and CPU seconds (the child's own, less sensitive to other load), and each arm's
ratio to the SB3 script and to render only.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import ROOT, fmt, print_table, save_results

PLAIN = """
import sys, time, gymnasium as gym
from stable_baselines3 import PPO
model = PPO.load(sys.argv[1], device="cpu")
env = gym.make(sys.argv[2], render_mode="rgb_array")
if sys.argv[3] == "video":
    env = gym.wrappers.RecordVideo(env, sys.argv[4], episode_trigger=lambda _: True, disable_logger=True)
for episode in range(int(sys.argv[5])):
    obs, _ = env.reset(seed=episode)
    done = False
    while not done:
        if sys.argv[3] != "video":
            env.render()
        action, _ = model.predict(obs, deterministic=True)
        obs, _, terminated, truncated, _ = env.step(action)
        done = terminated or truncated
env.close()
"""


def timed_cpu(cmd: list[str]) -> dict:
    """Run ``cmd`` from process start to exit: wall-clock, and the child's user + system CPU time
    (``os.wait4``)."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{err.decode()[-2000:]}")
    return {"wall_s": wall, "cpu_s": usage.ru_utime + usage.ru_stime}


def main(argv: list[str] | None = None) -> dict:
    """Time the arms (alternating order over ``--repeats``), print the table, write JSON."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--run", type=Path, help="a gymlab PPO run (default: train ppo CartPole-v1 first)")
    p.add_argument("--episodes", type=int, default=1)
    p.add_argument("--repeats", type=int, default=2)
    args = p.parse_args(argv)
    python = sys.executable
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        run = args.run
        if run is None:
            run = tmp / "run"
            subprocess.run([python, "-m", "gymlab", "train", "ppo", "CartPole-v1", "--run-dir", str(run), "--quiet"],
                           cwd=ROOT, check=True, stdout=subprocess.DEVNULL)  # fmt: skip
        config = json.loads((run / "config.json").read_text())
        env_id = config["env_id"]
        model = tmp / "model.zip"
        subprocess.run([python, "-m", "gymlab", "export", str(run), str(model)], cwd=ROOT, check=True,
                       stdout=subprocess.DEVNULL)  # fmt: skip
        episodes = str(args.episodes)
        arms = {
            "render only": [python, "-c", PLAIN, str(model), env_id, "render", str(tmp / "none"), episodes],
            "sb3 script": [python, "-c", PLAIN, str(model), env_id, "video", str(tmp / "sb3"), episodes],
            "gymlab record zip": [python, "-m", "gymlab", "record", str(model), "--env", env_id,
                                  "--out", str(tmp / "zip"), "--episodes", episodes],
            "gymlab record run": [python, "-m", "gymlab", "record", str(run), "--out", str(tmp / "run-videos"),
                                  "--episodes", episodes],
        }  # fmt: skip
        results: dict[str, list[dict]] = {name: [] for name in arms}
        for repeat in range(args.repeats):
            order = list(arms) if repeat % 2 == 0 else list(reversed(arms))
            for name in order:
                results[name].append(timed_cpu(arms[name]))
    mean = {
        name: {key: sum(r[key] for r in rs) / len(rs) for key in ("wall_s", "cpu_s")} for name, rs in results.items()
    }
    sb3, floor = mean["sb3 script"], mean["render only"]
    rows = [
        [
            name,
            fmt(m["wall_s"]),
            fmt(m["cpu_s"]),
            fmt(m["cpu_s"] / sb3["cpu_s"], 2),
            fmt(m["cpu_s"] / floor["cpu_s"], 2),
        ]
        for name, m in mean.items()
    ]
    print(f"\nrecording {args.episodes} episode(s) of {env_id} from process start, mean of {args.repeats} runs each:")
    print_table(["arm", "wall s", "CPU s", "CPU / sb3 script", "CPU / render only"], rows)
    payload = {"env": env_id, "episodes": args.episodes, "repeats": args.repeats, "runs": results, "means": mean}
    print(f"results: {save_results(f'record-{env_id}', payload)}")
    return payload


if __name__ == "__main__":
    main()
