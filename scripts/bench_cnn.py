"""Benchmark: the CNN preset, `python -m trainkit +experiment=fashion_mnist_cnn`, end to end on real
Fashion-MNIST (train, evaluate, register, export to ONNX), and its epoch against the same CNN in a
plain Keras script (scripts/baselines/plain_keras.py --conv 32 64: model.fit), in one run.
Prints (goals in brackets):

  accuracy      test accuracy of the preset, mean over seeds                          [>= 0.920]
  wall time     process start -> "completed" (training, evaluation, registry, ONNX)   [about 300 s]
  epoch time    trainkit's steady-state epoch / the plain script's                    [<= 1.0]

    .venv/bin/python scripts/bench_cnn.py [--seeds 1] [--plain-epochs 2]
"""
from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = "/usr/share/datasets/fashion-mnist"


def run(cmd: list[str], env: dict, cwd: str) -> tuple[float, str]:
    t0 = time.time()
    proc = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd[:4])}... failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return time.time() - t0, proc.stdout


def preset(ws: str, env: dict, seed: int) -> dict:
    wall, out = run([sys.executable, "-m", "trainkit", "+experiment=fashion_mnist_cnn", f"trainer.seed={seed}",
                     "run.resume=never"], env, ws)
    run_id = re.search(r"run (\S+) completed", out).group(1)
    run_dir = next((Path(ws) / "experiments").glob(f"*/runs/{run_id}"))
    history = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    status = json.loads((run_dir / "status.json").read_text())
    onnx = re.search(r"ONNX opset \d+: (.*)", out)
    return {"wall_s": wall, "epoch_s": [h["epoch_time_s"] for h in history],
            "accuracy": status["final_metrics"]["test_accuracy"], "onnx": onnx.group(1) if onnx else "not exported"}


def plain(ws: str, env: dict, epochs: int) -> dict:
    env = {**env, "BENCH_CLOCK": f"{ws}/clock.jsonl"}
    Path(env["BENCH_CLOCK"]).unlink(missing_ok=True)
    run([sys.executable, str(ROOT / "scripts/baselines/plain_keras.py"), "--data-folder", DATA, "--conv", "32", "64",
         "--hidden", "128", "--dropout", "0.4", "--batch-size", "64", "--epochs", str(epochs),
         "--callback", "clock:Clock"], env, ws)
    events = [json.loads(line) for line in Path(env["BENCH_CLOCK"]).read_text().splitlines()]
    return {"epoch_s": [e["seconds"] for e in events if e["event"] == "epoch"]}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", type=int, default=1)
    ap.add_argument("--plain-epochs", type=int, default=2)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as ws:
        env = {**os.environ, "TRAINKIT_WORKSPACE": ws, "TF_CPP_MIN_LOG_LEVEL": "2",
               "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT / "scripts/baselines"), os.environ.get("PYTHONPATH")]))}
        runs, plains = [], []
        for seed in range(args.seeds):     # interleaved, so machine noise hits both
            runs.append(preset(ws, env, 42 + seed))
            plains.append(plain(ws, env, args.plain_epochs))
            r = runs[-1]
            print(f"seed {42 + seed}: test accuracy {r['accuracy']:.4f}, wall {r['wall_s']:.0f} s, "
                  f"epochs {len(r['epoch_s'])} x {statistics.median(r['epoch_s'][1:]):.1f} s; ONNX {r['onnx']} | "
                  f"plain epoch {statistics.median(plains[-1]['epoch_s'][1:] or plains[-1]['epoch_s']):.1f} s", flush=True)
    tk_epoch = statistics.median(s for r in runs for s in r["epoch_s"][1:])
    pl_epoch = statistics.median(s for p in plains for s in (p["epoch_s"][1:] or p["epoch_s"]))
    print(f"\n{os.cpu_count()} CPU(s); +experiment=fashion_mnist_cnn, {len(runs[0]['epoch_s'])} epochs of 55000 images")
    print(f"test accuracy (mean of {args.seeds} seed(s)) = {statistics.mean(r['accuracy'] for r in runs):.4f}  (goal >= 0.920)")
    print(f"wall time start -> completed (median) = {statistics.median(r['wall_s'] for r in runs):.0f} s  (goal about 300 s)")
    print(f"RATIO epoch time trainkit/plain = {tk_epoch / pl_epoch:.3f}  ({tk_epoch:.1f} s vs {pl_epoch:.1f} s; goal <= 1.0)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
