"""Every benchmark in sequence (what ``make bench`` runs); prints where the JSON results went.

    .venv/bin/python -m bench.run_all            # each benchmark with its default seeds
    .venv/bin/python -m bench.run_all --quick    # CartPole-v1 only, seed 0
    .venv/bin/python -m bench.run_all --only a2c reinforce
    .venv/bin/python -m bench.run_all --quick --dry-run   # print the commands only

:data:`PLAN` lists the benchmarks with the arguments of a full run. Any other module in bench/
with a ``main(argv)`` is run after them with no arguments. One failing benchmark does not stop
the others; the exit status is 1 if any failed. Benchmarks run one at a time (each one already
runs its trainers one at a time), so their timings do not disturb each other.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import pkgutil
import sys
import time
import traceback
from pathlib import Path

from bench.common import RESULTS, print_table

# (module in bench/, arguments of the full run); every one on seeds 0-2 (LunarLander PPO and
# REINFORCE take about 20 and 30 minutes on 2 cores)
PLAN: list[tuple[str, list[str]]] = [
    ("ppo", ["--env", "CartPole-v1"]),
    ("ppo", ["--env", "LunarLander-v3"]),
    ("a2c", ["--env", "CartPole-v1"]),
    ("a2c", ["--env", "LunarLander-v3"]),
    ("reinforce", ["--env", "CartPole-v1"]),
    ("reinforce", ["--env", "LunarLander-v3"]),
    ("supervised", []),
    ("gan", []),
    ("imitation", []),
]
NOT_BENCHMARKS = {"common", "run_all"}
QUICK_ENV = "CartPole-v1"


def discover() -> list[str]:
    """Modules in bench/ other than the planned ones and the helpers."""
    folder = Path(__file__).resolve().parent
    planned = {name for name, _ in PLAN}
    return sorted(m.name for m in pkgutil.iter_modules([str(folder)]) if m.name not in planned | NOT_BENCHMARKS)


def benchmark_main(name: str):
    """``bench.NAME.main`` if the module exists and its main takes an argv; else None (with why)."""
    try:
        module = importlib.import_module(f"bench.{name}")
    except ModuleNotFoundError as error:
        if error.name == f"bench.{name}":
            return None, "not present"
        raise
    main = getattr(module, "main", None)
    if main is None or not inspect.signature(main).parameters:
        return None, "no main(argv)"
    return module, ""


def quick_args(module, args: list[str]) -> list[str] | None:
    """The argv for ``--quick``: CartPole-v1, seed 0; None when the benchmark has no CartPole run."""
    if "--env" in args:  # a planned run on one env: kept only if it is the quick one
        return ["--env", QUICK_ENV, "--seeds", "0"] if args[args.index("--env") + 1] == QUICK_ENV else None
    if '"--env"' in inspect.getsource(module):  # a benchmark that takes --env itself
        return ["--env", QUICK_ENV, "--seeds", "0"]
    if getattr(module, "ENV_ID", None) == QUICK_ENV:
        return ["--seeds", "0"]
    return None


def main(argv: list[str] | None = None) -> int:
    """Run the benchmarks; print a summary with each one's JSON files; return the exit status."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_ENV} only, one seed")
    parser.add_argument("--only", nargs="+", default=None, metavar="MODULE", help="run only these bench modules")
    parser.add_argument("--dry-run", action="store_true", help="print the commands, run nothing")
    args = parser.parse_args(argv)

    plan = PLAN + [(name, []) for name in discover()]
    rows, failed = [], False
    start_all = time.perf_counter()
    for name, bench_args in plan:
        if args.only and name not in args.only:
            continue
        module, why = benchmark_main(name)
        if module is None:
            rows.append([name, " ".join(bench_args), f"skipped ({why})", "-", "-"])
            continue
        if args.quick:
            bench_args = quick_args(module, bench_args)
            if bench_args is None:
                continue
        command = f"python -m bench.{name} {' '.join(bench_args)}".strip()
        if args.dry_run:
            print(command)
            continue
        print(f"\n{'=' * 100}\n{command}\n{'=' * 100}", flush=True)
        before = set(RESULTS.glob("*.json")) if RESULTS.exists() else set()
        start = time.perf_counter()
        try:
            module.main(bench_args)
            status = "ok"
        except (Exception, SystemExit) as error:  # one broken benchmark must not stop the rest
            traceback.print_exc()
            status, failed = f"FAILED ({type(error).__name__})", True
        wall = time.perf_counter() - start
        new = sorted(set(RESULTS.glob("*.json")) - before) if RESULTS.exists() else []
        rows.append([name, " ".join(bench_args), status, f"{wall / 60:.1f}",
                     ", ".join(str(p.relative_to(RESULTS.parent.parent)) for p in new) or "-"])  # fmt: skip
        sys.stdout.flush()

    print(f"\nall benchmarks: {(time.perf_counter() - start_all) / 60:.1f} min; JSON results in {RESULTS}")
    print_table(["benchmark", "args", "status", "min", "results"], rows)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
