"""Benchmark: the command users run, `python -m trainkit`, against a plain seed-style Keras script
(scripts/baselines/plain_keras.py: model.fit), in one run, interleaved, on real Fashion-MNIST.

Both train 784-256-128-10 (ReLU, softmax) with Adam 1e-3, batch 64, on all 60k training images,
no validation, for the same epochs, then evaluate the 10k test images. Each is a fresh process
started by this script; the same Keras callback (scripts/baselines/clock.py) clocks both.
Prints (goals in brackets):

  epoch time     trainkit's recorded epoch_time_s / the plain script's epoch, steady state  [<= 0.25]
  learning       mean test accuracy over seeds, trainkit - plain, after equal epochs     [within 0.3 pp]
  first step     process start -> first training step done, trainkit / plain              [<= 1.3]
  steadiness     per run, the slowest epoch after the first / the fastest; and how many of those
                 epochs are within 15 % of their run's fastest                            [all]

    .venv/bin/python scripts/bench_epoch.py [--epochs 5] [--seeds 3]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = "/usr/share/datasets/fashion-mnist"


def run(cmd: list[str], env: dict, cwd: str) -> tuple[float, list[dict], str]:
    """(start time, clock events, stdout) of one process."""
    clock = Path(env["BENCH_CLOCK"])
    clock.unlink(missing_ok=True)
    t0 = time.time()
    proc = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd[:4])}... failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return t0, [json.loads(line) for line in clock.read_text().splitlines()], proc.stdout


def first_step(t0: float, events: list[dict]) -> float:
    return next(e["t"] for e in events if e["event"] == "first_step_end") - t0


def trainkit(ws: str, env: dict, epochs: int, seed: int) -> dict:
    t0, events, _ = run([sys.executable, "-m", "trainkit", "dataset=fashion_mnist", "model.hidden=[256,128]",
                         "dataset.validation_size=0", "trainer.batch_size=64", "trainer.learning_rate=0.001",
                         f"trainer.epochs={epochs}", f"trainer.seed={seed}", "run.resume=never",
                         "run.experiment=bench_epoch", "registry.enabled=false",
                         "trainer.callbacks=[{cls: 'clock:Clock'}]"], env, ws)
    runs = sorted((Path(ws) / "experiments" / "bench_epoch" / "runs").iterdir())
    status = json.loads((runs[-1] / "status.json").read_text())
    history = [json.loads(line) for line in (runs[-1] / "metrics.jsonl").read_text().splitlines()]
    return {"epoch_s": [h["epoch_time_s"] for h in history], "first_step_s": first_step(t0, events),
            "accuracy": status["final_metrics"]["test_accuracy"]}


def plain(ws: str, env: dict, epochs: int, seed: int) -> dict:
    t0, events, out = run([sys.executable, str(ROOT / "scripts/baselines/plain_keras.py"), "--data-folder", DATA,
                           "--hidden", "256", "128", "--batch-size", "64", "--epochs", str(epochs),
                           "--seed", str(seed), "--callback", "clock:Clock"], env, ws)
    return {"epoch_s": [e["seconds"] for e in events if e["event"] == "epoch"], "first_step_s": first_step(t0, events),
            "accuracy": json.loads(out.strip().splitlines()[-1])["test_accuracy"]}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--seeds", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as ws:
        env = {**os.environ, "TRAINKIT_WORKSPACE": ws, "BENCH_CLOCK": f"{ws}/clock.jsonl",
               "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT / "scripts/baselines"), os.environ.get("PYTHONPATH")])),
               "TF_CPP_MIN_LOG_LEVEL": "2"}
        trainkit(ws, env, 1, 99)        # warm-up: registers the dataset, fills the page cache
        tk, pl = [], []
        for seed in range(args.seeds):  # interleaved, so machine noise hits both
            tk.append(trainkit(ws, env, args.epochs, seed))
            pl.append(plain(ws, env, args.epochs, seed))
            print(f"seed {seed}: trainkit epoch {statistics.median(tk[-1]['epoch_s'][1:]):.2f} s, "
                  f"acc {tk[-1]['accuracy']:.4f}, first step {tk[-1]['first_step_s']:.2f} s | plain epoch "
                  f"{statistics.median(pl[-1]['epoch_s'][1:]):.2f} s, acc {pl[-1]['accuracy']:.4f}, "
                  f"first step {pl[-1]['first_step_s']:.2f} s", flush=True)
    tk_epoch = statistics.median(s for r in tk for s in r["epoch_s"][1:])
    pl_epoch = statistics.median(s for r in pl for s in r["epoch_s"][1:])
    tk_acc, pl_acc = (statistics.mean(r["accuracy"] for r in rs) for rs in (tk, pl))
    diffs = [100 * (a["accuracy"] - b["accuracy"]) for a, b in zip(tk, pl)]
    tk_first, pl_first = (statistics.median(r["first_step_s"] for r in rs) for rs in (tk, pl))
    print(f"\n{os.cpu_count()} CPU(s); 60000 images/epoch, batch 64, {args.epochs} epochs, {args.seeds} seeds")
    print(f"steady-state epoch: trainkit {tk_epoch:.3f} s, plain model.fit {pl_epoch:.3f} s")
    print(f"RATIO epoch time trainkit/plain = {tk_epoch / pl_epoch:.3f}  (goal <= 0.25)")
    print(f"test accuracy after {args.epochs} epochs (mean of {args.seeds} seeds): trainkit {tk_acc:.4f}, "
          f"plain {pl_acc:.4f}, diff {tk_acc * 100 - pl_acc * 100:+.2f} pp "
          f"(per seed {', '.join(f'{d:+.2f}' for d in diffs)})  (goal within 0.3 pp)")
    print(f"RATIO time to first step trainkit/plain = {tk_first / pl_first:.2f}  "
          f"({tk_first:.2f} s vs {pl_first:.2f} s; goal <= 1.3)")
    for name, rs in (("trainkit", tk), ("plain", pl)):
        steady = [r["epoch_s"][1:] for r in rs]
        spreads = [max(s) / min(s) for s in steady]
        within = sum(e <= 1.15 * min(s) for s in steady for e in s)
        print(f"STEADY {name}: slowest/fastest epoch per run {', '.join(f'{x:.2f}' for x in spreads)}; "
              f"{within}/{sum(map(len, steady))} epochs within 15 % of their run's fastest  (goal: all)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
