"""Every lecture's ``--quick`` run, timed from process start against its 60-second budget.

Each lecture runs as the student runs it, ``python -m gymlab lecture NAME --quick --out TMP``, in
a fresh process timed by the parent from launch to exit (imports count); the child's
``result.json`` gives whether the claim held and the seconds inside the experiment itself.

Usage::

    python -m bench.lectures                     # every registered lecture
    python -m bench.lectures --only loss optimizers --seeds 5
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

from bench.common import ROOT, print_table, save_results
from lectures import discover

BUDGET_S = 60.0
"""What the issue allows one lecture's --quick run on 2 cores."""


def time_lecture(name: str, seeds: int | None, out: Path) -> dict:
    """Run one lecture's --quick in a fresh process; its wall time, experiment time and verdict."""
    cmd = [sys.executable, "-m", "gymlab", "lecture", name, "--quick", "--out", str(out)]
    if seeds is not None:
        cmd += ["--seeds", str(seeds)]
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    process_s = time.perf_counter() - start
    if proc.returncode != 0:
        return {"lecture": name, "process_s": process_s, "error": proc.stderr.strip().splitlines()[-1:]}
    result = json.loads((out / "result.json").read_text())
    return {"lecture": name, "process_s": process_s, "experiment_s": result["seconds"], "held": result["held"],
            "seeds": len(result["seeds"])}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    """Time every lecture's --quick; print the table and where the JSON went."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", nargs="+", metavar="LECTURE", help="these lectures only")
    parser.add_argument(
        "--seeds", type=int, default=None, help="seeds per lecture (default: each lecture's quick seeds)"
    )
    args = parser.parse_args(argv)
    names = args.only or list(discover())
    rows, results = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            result = time_lecture(name, args.seeds, Path(tmp) / name)
            results.append(result)
            if "error" in result:
                rows.append([name, "-", "-", f"{result['process_s']:.1f}", "-", f"FAILED: {result['error']}"])
                continue
            within = "yes" if result["process_s"] <= BUDGET_S else "NO"
            rows.append([name, result["seeds"], "yes" if result["held"] else "NO", f"{result['process_s']:.1f}",
                         f"{result['experiment_s']:.1f}", within])  # fmt: skip
            print(f"{name}: {result['process_s']:.1f} s", flush=True)
    print(f"\nlecture --quick, timed from process start ({os.cpu_count()} CPUs); budget {BUDGET_S:.0f} s each")
    print_table(["lecture", "seeds", "held", "process s", "experiment s", f"<= {BUDGET_S:.0f} s"], rows)
    path = save_results("lectures", {"budget_s": BUDGET_S, "results": results})
    print(f"results: {path}")
    return 0 if all("error" not in r for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
