"""Benchmark: distribution strategies as real local processes on loopback, in one invocation.

Prints same-run ratios (the issue's goals in brackets):
  overhead at N=1   = steady epoch time of <strategy> with one worker / that of distribution=single  [<= 1.05]
  weak scaling, N=2 = images/s with 2 processes (global batch 2x) / (2 x images/s with 1 process)   [>= 0.80]

Each configuration is a real `python -m trainkit` run on a Fashion-MNIST subset; epoch times are
read from the run's metrics.jsonl (median of the epochs after the first, which includes tracing).

    .venv/bin/python scripts/bench_strategies.py [--images 20000] [--epochs 4]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HAVE_HOROVOD = Path(sys.executable).with_name("horovodrun").exists()


def epoch_time(ws: str, name: str, overrides: list[str], images: int, epochs: int) -> float:
    args = ["+debug=smoke", f"run.experiment={name}", f"dataset.limit_train={images + 500}", "dataset.limit_test=1000",
            f"trainer.epochs={epochs}", "registry.enabled=false", "run.snapshot_source=false",
            "trainer.steps_per_call=50", *overrides]
    proc = subprocess.run([sys.executable, "-m", "trainkit", *args], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, "TRAINKIT_WORKSPACE": ws})
    if proc.returncode != 0:
        raise SystemExit(f"{name} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    [run] = list((Path(ws) / "experiments" / name / "runs").iterdir())
    history = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return statistics.median(h["epoch_time_s"] for h in history[1:])


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--images", type=int, default=20000, help="training images per epoch")
    p.add_argument("--epochs", type=int, default=4)
    args = p.parse_args()
    one = {
        "single": ["distribution=single"],
        "mirrored": ["distribution=mirrored", "distribution.logical_cpus=1"],
        "multi_worker_mirrored": ["distribution=multi_worker_mirrored", "distribution.workers=1"],
        "parameter_server": ["distribution=parameter_server", "distribution.workers=1", "distribution.ps=1"],
    }
    two = {"multi_worker_mirrored": ["distribution=multi_worker_mirrored", "distribution.workers=2"]}
    if HAVE_HOROVOD:
        one["horovod"] = ["distribution=horovod", "distribution.processes=1"]
        two["horovod"] = ["distribution=horovod", "distribution.processes=2"]
    times1, times2 = {}, {}
    with tempfile.TemporaryDirectory() as ws:
        for name, ov in one.items():
            times1[name] = epoch_time(ws, f"n1-{name}", ov + ["trainer.batch_size=64"], args.images, args.epochs)
            print(f"N=1 {name:<22} epoch {times1[name]:.2f} s", flush=True)
        for name, ov in two.items():   # weak scaling: 64 images per process per step
            times2[name] = epoch_time(ws, f"n2-{name}", ov + ["trainer.batch_size=128"], args.images, args.epochs)
            print(f"N=2 {name:<22} epoch {times2[name]:.2f} s", flush=True)
    print(f"\n{os.cpu_count()} CPU(s), {args.images} images/epoch, steady-state median epoch")
    for name in one:
        if name != "single":
            print(f"RATIO overhead N=1 {name:<22} {times1[name] / times1['single']:.2f}   (goal <= 1.05)")
    for name in two:
        # same images per epoch, 64 per process per step: ideally 2 processes take half the time
        eff = times1[name] / (2 * times2[name])
        print(f"RATIO weak scaling N=2 {name:<18} {eff:.2f}   (goal >= 0.80)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
