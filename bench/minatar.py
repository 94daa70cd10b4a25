"""PPO on MinAtar (10x10 Atari boards): gymlab against Stable-Baselines3 with the same network.

Both sides train PPO with gymlab's MinAtar preset (agents/presets.yaml) on ``MinAtar/<Game>-v1``
(:mod:`envs.minatar`): MinAtar's own network (one 3x3 convolution of 16 channels, 128 features,
one body for actor and critic), 8 envs, 128-step rollouts, 4 epochs of batch 256. SB3 gets the
same network as a features extractor. Each run is a fresh process; the table gives the mean
return of the last 100 training episodes, a 20-episode evaluation (sampled actions, as MinAtar's
papers report), wall-clock and CPU time, and the ratio gymlab/SB3.

Usage::

    python -m bench.minatar                                  # Breakout, 5e5 steps, seeds 0 1
    python -m bench.minatar --game SpaceInvaders --steps 1000000 --seeds 0 1 2
"""

from __future__ import annotations

import argparse
import time

from bench.common import EVAL_SEED, ThresholdTracker, fmt, print_table, ratio, run_worker, save_results, self_usage

EVAL_EPISODES = 20


def train_sb3_minatar(env_id: str, seed: int, total_steps: int) -> dict:
    """SB3's PPO with gymlab's MinAtar preset and the same network (child process)."""
    import torch
    from stable_baselines3 import PPO
    from stable_baselines3.common.callbacks import BaseCallback
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.evaluation import evaluate_policy
    from stable_baselines3.common.torch_layers import BaseFeaturesExtractor
    from torch import nn

    import envs  # registers MinAtar/<Game>-v1
    from agents.ppo import PPOConfig
    from agents.presets import build_config, preset
    from gymlab.sb3 import sb3_kwargs

    class MinAtarNet(BaseFeaturesExtractor):
        """One 3x3 convolution of 16 channels, then 128 features (gymlab's ``cnn=minatar``)."""

        def __init__(self, space, features_dim: int = 128):
            super().__init__(space, features_dim)
            c, h, w = space.shape
            self.net = nn.Sequential(nn.Conv2d(c, 16, 3), nn.ReLU(), nn.Flatten(),
                                     nn.Linear(16 * (h - 2) * (w - 2), features_dim), nn.ReLU())  # fmt: skip

        def forward(self, x):
            return self.net(x.float())

    torch.set_num_threads(1)
    config = build_config(PPOConfig, {**preset("ppo", env_id), "total_steps": total_steps})
    kwargs = sb3_kwargs("ppo", config)
    kwargs["policy_kwargs"].update(net_arch=[], features_extractor_class=MinAtarNet,
                                   features_extractor_kwargs={"features_dim": config.hidden[-1]})  # fmt: skip
    kwargs["policy_kwargs"].pop("activation_fn", None)
    tracker = ThresholdTracker(float("inf"))

    class Track(BaseCallback):
        def _on_step(self) -> bool:
            for info in self.locals["infos"]:
                if "episode" in info:
                    tracker.add(self.num_timesteps, float(info["episode"]["r"]))
            return True

    start, cpu_start = time.perf_counter(), time.process_time()
    env = make_vec_env(lambda: envs.make_env(env_id), n_envs=config.n_envs, seed=seed)
    model = PPO("MlpPolicy", env, seed=seed, device="cpu", verbose=0, **kwargs)
    model.learn(total_timesteps=config.total_steps, callback=Track())
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    eval_env = make_vec_env(lambda: envs.make_env(env_id), n_envs=1, seed=EVAL_SEED + seed)
    mean, _ = evaluate_policy(model, eval_env, n_eval_episodes=EVAL_EPISODES, deterministic=False)
    return {"trainer": "sb3", "wall_s": wall, "train_cpu_s": cpu, "steps": model.num_timesteps,
            "eval_mean": float(mean), "final_train_mean": tracker.mean(), **self_usage()}  # fmt: skip


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--game", default="Breakout", help="Asterix, Breakout, Freeway, Seaquest, SpaceInvaders")
    parser.add_argument("--steps", type=int, default=500_000)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--timeout", type=float, default=7200.0)
    args = parser.parse_args(argv)
    env_id = f"MinAtar/{args.game}-v1"
    runs = []
    for i, seed in enumerate(args.seeds):  # alternate which side goes first
        gymlab = dict(agent="ppo", env_id=env_id, seed=seed, overrides={"total_steps": args.steps},
                      eval_episodes=1, extra_evals={"sampled": {"episodes": EVAL_EPISODES, "deterministic": False}})  # fmt: skip
        sides = [("gymlab", "train_gymlab", gymlab),
                 ("sb3", "bench.minatar:train_sb3_minatar", dict(env_id=env_id, seed=seed, total_steps=args.steps))]  # fmt: skip
        run = {"seed": seed}
        for name, worker, kwargs in sides if i % 2 == 0 else sides[::-1]:
            run[name] = run_worker(worker, args.timeout, **kwargs)
        run["gymlab"]["eval_mean"] = run["gymlab"].pop("sampled_mean")
        runs.append(run)
    rows = []
    for key, label in [("final_train_mean", "training mean, last 100 episodes"), ("eval_mean", "eval, 20 sampled episodes"),
                       ("wall_s", "wall-clock s"), ("train_cpu_s", "CPU s"), ("peak_rss_mb", "peak RSS MB")]:  # fmt: skip
        ours = [r["gymlab"][key] for r in runs]
        theirs = [r["sb3"][key] for r in runs]
        mean_ours, mean_theirs = sum(ours) / len(ours), sum(theirs) / len(theirs)
        rows.append([label, f"{fmt(mean_ours, 2)} ({' / '.join(fmt(v, 2) for v in ours)})",
                     f"{fmt(mean_theirs, 2)} ({' / '.join(fmt(v, 2) for v in theirs)})", fmt(ratio(mean_ours, mean_theirs), 2)])  # fmt: skip
    print(f"\nPPO on {env_id}, {args.steps:,} steps, seeds {args.seeds}: gymlab vs SB3, same preset and network")
    print_table(["", "gymlab (per seed)", "SB3 (per seed)", "gymlab/SB3"], rows)
    payload = {"env": env_id, "steps": args.steps, "seeds": args.seeds, "runs": runs}
    print(f"results: {save_results(f'minatar-{args.game}', payload)}")
    return payload


if __name__ == "__main__":
    main()
