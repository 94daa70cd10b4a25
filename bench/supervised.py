"""Supervised lectures as single-step envs: the pathwise learner against its peers, same run.

    .venv/bin/python -m bench.supervised                 # everything, seeds 0 1 2
    .venv/bin/python -m bench.supervised --seeds 0 --rl reinforce --skip sequence

Rows (test split, every example once, learners with their presets from agents/presets.yaml):

- Digits, CNN by backprop through the env (target >= 98.5%), MLP (>= 97.5%), and PPO or
  REINFORCE from the 0/1 label reward alone, a contextual bandit (>= 95%);
- Diabetes test MSE against scikit-learn's LinearRegression on the same split (no worse);
- Sequence labelling, attention encoder against a per-token MLP (the margin);
- overhead: one CNN trained on the same batches through ``SingleStepVectorEnv`` and through a
  plain PyTorch loop (x[idx], y[idx], cross-entropy); wall-time ratio (target <= 1.05). The two
  advance in lockstep, each step timed on its own, and end with identical weights.

Prints a table; JSON goes to bench/results/.
"""

from __future__ import annotations

import argparse
import copy
import platform
import statistics
import time
from typing import Any

import torch
import torch.nn.functional as F

from bench.common import print_table, save_results

TARGETS = {"digits_cnn": 0.985, "digits_mlp": 0.975, "digits_rl": 0.95, "overhead": 1.05}


def train_and_test(agent: str, env_id: str, seed: int, overrides: dict | None = None) -> dict[str, Any]:
    """Train ``agent`` on ``env_id`` with its preset (+ overrides) on the CPU; test-split figures."""
    from gymlab.train import build_new

    sets = [f"{k}={','.join(map(str, v)) if isinstance(v, list) else v}" for k, v in (overrides or {}).items()]
    start = time.perf_counter()
    learner = build_new(agent, env_id, seed=seed, device="cpu", sets=sets)
    learner.learn()
    wall = time.perf_counter() - start
    stats = learner.evaluate(seed=0)
    learner.close()
    return {"seed": seed, "wall_s": wall, "steps": learner.num_timesteps, **stats}


def sklearn_linear_mse() -> float:
    """Test MSE of ordinary least squares on Diabetes (standardised units, as the env's)."""
    from sklearn.linear_model import LinearRegression

    from supervised.datasets import load_task

    train, test = load_task("diabetes", "train"), load_task("diabetes", "test")
    model = LinearRegression().fit(train.x, train.y)
    return float(((model.predict(test.x) - test.y) ** 2).mean())


def overhead(epochs: int, repeats: int, batch_size: int = 64) -> dict[str, Any]:
    """Wall time of the same CNN on the same batches: through the batched env vs a plain loop.

    The two trainings advance in lockstep, one step each in alternating order, and each step is
    timed on its own: load from other processes on a shared machine then hits both alike.
    """
    from agents.supervised import SupervisedConfig, build_predictor
    from envs.single_step import SingleStepVectorEnv
    from supervised.datasets import load_task

    torch.set_num_threads(1)
    dataset = load_task("digits", "train")
    torch.manual_seed(0)
    initial = build_predictor("cnn", dataset, SupervisedConfig(hidden=[512, 512]))
    env = SingleStepVectorEnv("digits", batch_size, "train", "prediction", "cpu")  # check_values on, as the learner
    steps = epochs * env.steps_per_epoch
    # the batches the env serves after reset(seed=0), replayed by the plain loop
    env.reset(seed=0)
    batches = [env.step(torch.zeros(batch_size, 10))[4]["index"] for _ in range(steps)]
    x, y = torch.from_numpy(dataset.x.copy()), torch.from_numpy(dataset.y.copy())

    def fresh() -> tuple[torch.nn.Module, torch.optim.Optimizer]:
        model = copy.deepcopy(initial)
        return model, torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-5)

    times = {"env": 0.0, "plain": 0.0}
    for _ in range(repeats):
        (env_model, env_opt), (plain_model, plain_opt) = fresh(), fresh()
        obs, _ = env.reset(seed=0)
        for k, index in enumerate(batches):
            for name in ("env", "plain") if k % 2 == 0 else ("plain", "env"):
                start = time.perf_counter()
                if name == "env":  # the agent's view: act, get -loss as the reward
                    obs, reward, _, _, _ = env.step(env_model(obs))
                    loss, optimizer = -reward.mean(), env_opt
                else:
                    loss, optimizer = F.cross_entropy(plain_model(x[index]), y[index]), plain_opt
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                times[name] += time.perf_counter() - start
    same = all(
        torch.allclose(a, b, atol=1e-5)
        for a, b in zip(env_model.state_dict().values(), plain_model.state_dict().values())
    )
    return {
        "epochs": epochs, "repeats": repeats, "steps": steps, "batch_size": batch_size,
        "env_s": times["env"] / repeats, "plain_s": times["plain"] / repeats,
        "ratio": times["env"] / times["plain"], "same_weights": same,
    }  # fmt: skip


def summary(runs: list[dict], key: str) -> dict[str, float]:
    """Mean, min and max of ``key`` over seeds."""
    values = [r[key] for r in runs]
    return {"mean": statistics.fmean(values), "min": min(values), "max": max(values)}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--rl", default="ppo", choices=["ppo", "reinforce", "none"], help="reward-only learner")
    parser.add_argument("--skip", nargs="*", default=[], choices=["digits", "diabetes", "sequence", "overhead"])
    parser.add_argument("--overhead-epochs", type=int, default=10)
    parser.add_argument("--overhead-repeats", type=int, default=2)
    args = parser.parse_args(argv)

    results: dict[str, Any] = {"seeds": args.seeds}
    rows: list[list[Any]] = []

    def add(label: str, metric: str, runs: list[dict], key: str, target: str, passed: bool, scale: float = 1.0):
        s = summary(runs, key)
        results[label] = {"runs": runs, key: s, "target": target, "passed": passed}
        wall = statistics.fmean(r["wall_s"] for r in runs)
        digits = 2 if scale != 1 else 3
        rows.append([label, metric, f"{s['mean'] * scale:.{digits}f}", f"{s['min'] * scale:.{digits}f}",
                     f"{s['max'] * scale:.{digits}f}", target, "yes" if passed else "NO", f"{wall:.1f}"])  # fmt: skip
        print(f"  done: {label}", flush=True)

    if "digits" not in args.skip:
        cnn = [train_and_test("supervised", "gymlab/Digits-v0", s, {"net": "cnn"}) for s in args.seeds]
        add("digits cnn (backprop)", "test acc %", cnn, "accuracy", ">= 98.5",
            min(r["accuracy"] for r in cnn) >= TARGETS["digits_cnn"], 100)  # fmt: skip
        mlp = [train_and_test("supervised", "gymlab/Digits-v0", s, {"net": "mlp"}) for s in args.seeds]
        add("digits mlp (backprop)", "test acc %", mlp, "accuracy", ">= 97.5",
            min(r["accuracy"] for r in mlp) >= TARGETS["digits_mlp"], 100)  # fmt: skip
        if args.rl != "none":
            rl = [train_and_test(args.rl, "gymlab/Digits-v0", s) for s in args.seeds]
            add(f"digits {args.rl} (reward only)", "test acc %", rl, "accuracy", ">= 95",
                min(r["accuracy"] for r in rl) >= TARGETS["digits_rl"], 100)  # fmt: skip

    if "diabetes" not in args.skip:
        linear = sklearn_linear_mse()
        ours = [train_and_test("supervised", "gymlab/Diabetes-v0", s) for s in args.seeds]
        add("diabetes mlp (backprop)", "test MSE", ours, "mse", f"<= {linear:.3f} (sklearn OLS)",
            statistics.fmean(r["mse"] for r in ours) <= linear)  # fmt: skip
        results["diabetes mlp (backprop)"]["sklearn_linear_mse"] = linear

    if "sequence" not in args.skip:
        attention = [train_and_test("supervised", "gymlab/Sequence-v0", s, {"net": "attention"}) for s in args.seeds]
        token_mlp = [train_and_test("supervised", "gymlab/Sequence-v0", s, {"net": "mlp"}) for s in args.seeds]
        margin = summary(attention, "accuracy")["mean"] - summary(token_mlp, "accuracy")["mean"]
        add("sequence attention", "test acc %", attention, "accuracy", f"margin {100 * margin:+.1f}", margin > 0, 100)
        add("sequence per-token mlp", "test acc %", token_mlp, "accuracy", "(majority ~29)", True, 100)
        results["sequence_margin"] = margin

    if "overhead" not in args.skip:
        o = overhead(args.overhead_epochs, args.overhead_repeats)
        results["overhead"] = o
        passed = o["ratio"] <= TARGETS["overhead"]
        rows.append(["overhead env/plain", "wall ratio", f"{o['ratio']:.3f}", "-", "-", "<= 1.05",
                     "yes" if passed else "NO", f"{o['env_s']:.1f} vs {o['plain_s']:.1f}"])  # fmt: skip
        print(
            f"  overhead: env {o['env_s']:.2f} s, plain {o['plain_s']:.2f} s per run, same weights: {o['same_weights']}"
        )

    print(
        f"\nseeds {args.seeds}; torch {torch.__version__}; {platform.processor() or platform.machine()}; CPU, 1 thread"
    )
    print_table(["row", "metric", "mean", "min", "max", "target", "met", "train s/seed"], rows)
    results["torch"] = torch.__version__
    path = save_results("supervised", results)
    print(f"\nresults: {path}")
    return results


if __name__ == "__main__":
    main()
