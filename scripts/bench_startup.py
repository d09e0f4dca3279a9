"""Benchmark: what a trainkit process pays to start TensorFlow. Fresh processes, interleaved:

    plain     `import tensorflow, keras` (the baseline: what a user's own script pays)
    trainkit  trainkit.worker.tfquiet.import_tensorflow() (quiet, without scikit-learn and pandas,
              which Keras loads at start-up whenever they are installed)

Prints each one's CPU time (user + system of the child) and wall time, median [min-max] over the
repeats, and the same-run ratio trainkit / plain. CPU time is the figure to read on a shared
machine: it is what the other process on the second core loses.

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
        "trainkit": "from trainkit.worker.tfquiet import import_tensorflow; import_tensorflow()"}


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
    ratios = []
    for _ in range(args.repeats):
        for name, code in CODE.items():
            c, w = once(code)
            cpu[name].append(c)
            wall[name].append(w)
        ratios.append(cpu["trainkit"][-1] / cpu["plain"][-1])
    print(f"{'start-up':10} {'CPU s, median [min-max]':28} {'wall s':28}")
    for name in CODE:
        print(f"{name:10} {spread(cpu[name]):28} {spread(wall[name]):28}")
    print(f"CPU ratio trainkit / plain, per repeat: {spread(ratios)} ({args.repeats} interleaved repeats)")


if __name__ == "__main__":
    main()
