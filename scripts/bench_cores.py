"""Benchmark: the machine's own ceiling for weak scaling. The same single-threaded float32 matmul
loop (numpy, one BLAS thread) runs pinned to one core alone, then on every core at once, one
process per core; prints each layout's per-process rate and the ratio

    machine weak scaling = (rate per process, all cores busy) / (rate of one process alone)

in interleaved repeats, median [min-max]. 1.00 means the cores are independent; 0.50 on two cores
means two busy vCPUs deliver what one delivers alone (hyperthread siblings on the host, or a CPU
quota), so no framework can scale two training processes past 0.50 there.

    .venv/bin/python scripts/bench_cores.py [--seconds 5] [--repeats 5]
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys

CHILD = """
import os, sys, time
os.sched_setaffinity(0, {int(sys.argv[1])})
import numpy as np
a = np.random.default_rng(0).standard_normal((256, 256)).astype(np.float32)
end, n = time.perf_counter() + float(sys.argv[2]), 0
while time.perf_counter() < end:
    a = a @ a
    a /= np.abs(a).max()
    n += 1
print(n / float(sys.argv[2]))
"""


def rates(cores: list[int], seconds: float) -> list[float]:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    procs = [subprocess.Popen([sys.executable, "-c", CHILD, str(c), str(seconds)], stdout=subprocess.PIPE,
                              text=True, env=env) for c in cores]
    return [float(p.communicate()[0]) for p in procs]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seconds", type=float, default=5.0)
    p.add_argument("--repeats", type=int, default=5)
    args = p.parse_args()
    cores = sorted(os.sched_getaffinity(0))
    ratios = []
    for r in range(args.repeats):
        [alone] = rates(cores[:1], args.seconds)
        together = rates(cores, args.seconds)
        ratios.append(statistics.mean(together) / alone)
        print(f"[{r + 1}/{args.repeats}] one process alone {alone:.1f} matmuls/s; {len(cores)} at once "
              f"{', '.join(f'{t:.1f}' for t in together)} matmuls/s each", flush=True)
    print(f"RATIO machine weak scaling, {len(cores)} cores: {statistics.median(ratios):.2f} "
          f"[{min(ratios):.2f}-{max(ratios):.2f}]   (1.00: independent cores)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
