"""Benchmark: what a trainkit process pays to start TensorFlow and to end. Fresh processes, interleaved:

    plain     `import tensorflow, keras`, then a normal exit (the baseline: a user's own script)
    import    trainkit.tfquiet.import_tensorflow() (quiet, without scikit-learn and pandas,
              which Keras loads at start-up whenever they are installed), then a normal exit
    worker    the same import, then trainkit.worker.recipe.leave(0): a worker's end, without the
              interpreter's teardown of ~3,300 modules

Prints each one's CPU time (user + system of the child) and wall time, median [min-max] over the
repeats, and the same-run ratios to plain. CPU time is the figure to read on a shared machine: it
is what the other process on the second core loses.

    .venv/bin/python scripts/bench_startup.py [--repeats 5]
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CODE = {"plain": "import tensorflow, keras",
        "import": "from trainkit.tfquiet import import_tensorflow; import_tensorflow()",
        "worker": "from trainkit.tfquiet import import_tensorflow; import_tensorflow()\n"
                  "from trainkit.worker.recipe import leave; leave(0)"}


def once(code: str) -> tuple[float, float]:
    """(CPU seconds, wall seconds) of one fresh `python -c code`."""
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, env={**os.environ, "PYTHONPATH": str(ROOT)})
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"bench_startup: `{code}` failed (exit {os.waitstatus_to_exitcode(status)})")
    return usage.ru_utime + usage.ru_stime, wall


def spread(xs: list[float]) -> str:
    return f"{statistics.median(xs):5.2f} [{min(xs):.2f}-{max(xs):.2f}]"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    cpu: dict[str, list[float]] = {k: [] for k in CODE}
    wall: dict[str, list[float]] = {k: [] for k in CODE}
    for _ in range(args.repeats):
        for name, code in CODE.items():
            c, w = once(code)
            cpu[name].append(c)
            wall[name].append(w)
    print(f"{'process':10} {'CPU s, median [min-max]':28} {'wall s':28} CPU ratio to plain, per repeat")
    for name in CODE:
        ratios = [c / p for c, p in zip(cpu[name], cpu["plain"])]
        print(f"{name:10} {spread(cpu[name]):28} {spread(wall[name]):28} {spread(ratios)}")
    print(f"({args.repeats} interleaved repeats)")


if __name__ == "__main__":
    main()
