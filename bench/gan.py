"""GAN on the 8x8 digits, judged as the course does: Fréchet distance and class diversity.

    .venv/bin/python -m bench.gan                        # seeds 0 1 2, the gan preset
    .venv/bin/python -m bench.gan --seeds 0 --set loss=wgan-gp --set disc_steps=5

Per seed: ``gymlab train gan gymlab/Digits-v0`` with its preset (``--set`` overrides), then
``evaluate()`` on samples from the moving average of the generator's weights: a classifier
trained by the supervised learner (``agents.gan_eval.JUDGE_CONFIG``, its Digits CNN preset) gives
512-d penultimate features and class probabilities. Fréchet distances to the training
digits' features come from as many samples as there are held-out real digits (val + test, 540):
generated, real held-out (the floor) and uniform noise (the ceiling). Targets: distance <= 3x
the floor, all 10 classes generated with predicted-class entropy >= 0.9 ln 10, >= 90% of samples
classified with confidence >= 0.9 (for scale, the share of real held-out digits that are, and
the judge's test accuracy, are printed too). Sample grids go to bench/results/gan-s<seed>.png,
JSON to bench/results/.
"""

from __future__ import annotations

import argparse
import math
import platform
import time

from bench.common import RESULTS, print_table, save_results

ENV_ID = "gymlab/Digits-v0"
TARGETS = {"frechet_ratio": 3.0, "class_entropy": 0.9 * math.log(10), "confident_fraction": 0.9}


def run_seed(seed: int, sets: list[str]) -> dict:
    """Train and evaluate one GAN; returns its figures."""
    from PIL import Image

    from gymlab import train

    agent = train.build_new("gan", ENV_ID, seed=seed, device="cpu", sets=sets)
    start = time.perf_counter()
    agent.learn()
    wall = time.perf_counter() - start
    agent.close()
    metrics = agent.evaluate()
    RESULTS.mkdir(parents=True, exist_ok=True)
    Image.fromarray(agent.sample_grid()).save(RESULTS / f"gan-s{seed}.png")
    passed = (
        metrics["frechet_ratio"] <= TARGETS["frechet_ratio"]
        and metrics["classes_generated"] == 10
        and metrics["class_entropy"] >= TARGETS["class_entropy"]
        and metrics["confident_fraction"] >= TARGETS["confident_fraction"]
    )
    print(f"seed {seed}: FD {metrics['frechet_distance']:.2f} (floor {metrics['frechet_floor']:.2f}) "
          f"entropy {metrics['class_entropy']:.3f} confident {metrics['confident_fraction']:.3f} "
          f"(real {metrics['confident_fraction_real']:.3f}, judge test accuracy {metrics['judge_test_accuracy']:.4f}) "
          f"in {wall:.0f} s",
          flush=True)  # fmt: skip
    return {"seed": seed, "wall_s": wall, "env_steps": agent.num_timesteps, "pass": passed, **metrics}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override the preset")
    args = parser.parse_args(argv)
    results = [run_seed(seed, args.set) for seed in args.seeds]
    rows = [
        [r["seed"], r["frechet_distance"], r["frechet_floor"], r["frechet_noise"], f"{r['frechet_ratio']:.2f}",
         f"{r['class_entropy']:.3f}", int(r["classes_generated"]), f"{r['confident_fraction']:.3f}",
         f"{r['confident_fraction_real']:.3f}", f"{r['judge_test_accuracy']:.4f}", "yes" if r["pass"] else "NO",
         r["env_steps"], r["wall_s"]]
        for r in results
    ]  # fmt: skip
    print(f"\n{ENV_ID}: GAN ({', '.join(args.set) or 'preset'}); targets: ratio <= 3, entropy >= "
          f"{TARGETS['class_entropy']:.3f} with 10 classes, confident >= 0.9")  # fmt: skip
    print_table(
        ["seed", "FD", "floor", "noise", "FD/floor", "entropy", "classes", "confident", "real conf.", "judge acc.",
         "pass", "real samples", "wall s"],
        rows,
    )  # fmt: skip
    payload = {
        "env_id": ENV_ID,
        "sets": args.set,
        "targets": TARGETS,
        "machine": platform.platform(),
        "results": results,
    }
    print(f"results: {save_results('gan', payload)}")
    return payload


if __name__ == "__main__":
    main()
