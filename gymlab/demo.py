"""``make demo``: train PPO on CartPole-v1 until solved, record it, point at TensorBoard."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

SOLVED = 500.0
EVAL_EPISODES = 20


def main() -> int:
    """Train (with the tuned preset), evaluate over 20 episodes, train more if not yet solved,
    then record an mp4 and print where everything is."""
    os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
    os.environ.setdefault("XDG_RUNTIME_DIR", "/tmp")
    from agents.logger import RunLogger
    from gymlab import play, train

    quiet = not sys.stderr.isatty()
    start = time.perf_counter()
    print("Training PPO on CartPole-v1 (rl-baselines3-zoo's tuned settings, 100,000 steps)...", flush=True)
    run_dir, agent, _ = train.train("ppo", "CartPole-v1", seed=0, device="cpu", quiet=quiet)
    stats = agent.evaluate(EVAL_EPISODES, deterministic=True, seed=0)
    extra = 0
    while stats["mean_reward"] < SOLVED and extra < 3:  # rare: a few more steps finish the job
        extra += 1
        steps = agent.num_timesteps + 50_000
        print(f"evaluation mean {stats['mean_reward']:.1f} < {SOLVED:.0f}; training to {steps} steps", flush=True)
        _, agent, _ = train.resume(run_dir, device="cpu", steps=steps, quiet=quiet)
        stats = agent.evaluate(EVAL_EPISODES, deterministic=True, seed=0)
    logger = RunLogger(run_dir)
    logger.scalars({f"test/{k}": v for k, v in stats.items()}, agent.num_timesteps)
    videos, _, frames = play.record(agent, Path("videos"), episodes=1, seed=0)
    logger.video("test/video", frames, agent.num_timesteps, fps=50)
    logger.close()
    minutes = (time.perf_counter() - start) / 60
    solved = "solved" if stats["mean_reward"] >= SOLVED else "not solved yet"
    print()
    print(
        f"evaluation:   {stats['mean_reward']:.1f} +/- {stats['std_reward']:.1f} over {EVAL_EPISODES} episodes ({solved})"
    )
    print(f"run:          {run_dir}   (config.json, checkpoints/, episodes.csv, TensorBoard events)")
    print(f"video:        {videos[0] if videos else '(none)'}")
    print(f"TensorBoard:  .venv/bin/gymlab board {run_dir}   then open http://127.0.0.1:6006/")
    print(f"took {minutes:.1f} min")
    return 0 if stats["mean_reward"] >= SOLVED else 1


if __name__ == "__main__":
    sys.exit(main())
