"""Launch overhead: seconds from `python -m trainkit ...` to the first line the worker prints
("data: ..."), for compute=local, slurm and ssh (needs scripts/cluster/slurm_up.sh and
ssh_up.sh running, as root). Same run, same config (+debug=smoke); prints the ratio to local.

    .venv/bin/python scripts/bench_launch.py [--repeats 3]
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SSH = Path("/var/lib/trainkit-ssh")
TARGETS = {
    "local": ["compute=local"],
    "slurm": ["compute=slurm", "compute.wait=true"],
    "ssh": ["compute=ssh", "compute.wait=true", "compute.hosts=[{host:127.0.0.1,port:2222,user:root,slots:1}]",
            f"compute.identity_file={SSH / 'id_ed25519'}", f"compute.known_hosts={SSH / 'known_hosts'}",
            f"compute.python={sys.executable}"],
}


def first_line_s(args: list[str], env: dict) -> tuple[float, float]:
    """(seconds to the worker's first line, seconds to the end) of one blocking run."""
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "trainkit", "+debug=smoke", "run.resume=never", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, cwd=ROOT)
    first = None
    for line in proc.stdout:
        if first is None and "data: " in line:
            first = time.perf_counter() - t0
    if proc.wait() != 0 or first is None:
        raise SystemExit(f"{args[0]}: run failed (exit {proc.returncode})")
    return first, time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as ws:
        env = dict(os.environ, TRAINKIT_WORKSPACE=ws)
        first_line_s(TARGETS["local"], env)   # warm the dataset cache and the page cache
        results = {}
        for _ in range(args.repeats):         # interleaved, so machine noise hits every target
            for name, extra in TARGETS.items():
                results.setdefault(name, []).append(first_line_s(extra, env))
    base = statistics.median(r[0] for r in results["local"])
    print(f"{'target':<8} {'submit->first line (s)':>24} {'ratio to local':>15} {'whole run (s)':>14}")
    for name, rs in results.items():
        med = statistics.median(r[0] for r in rs)
        print(f"{name:<8} {med:>24.2f} {med / base:>15.2f} {statistics.median(r[1] for r in rs):>14.2f}")


if __name__ == "__main__":
    main()
