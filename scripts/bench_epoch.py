"""Benchmark: trainkit's training loop vs a plain seed-style script, same run, interleaved.

Both train the same 784-300-100-10 model on real Fashion-MNIST (55k train images) with Adam,
batch 64. Each round runs one epoch of each; the first round is warm-up (tracing/XLA compile).
Prints the steady-state median epoch times, their ratio (goal <= 0.40) and both test accuracies
after the same number of epochs (goal: within 0.5 pp).

    python scripts/bench_epoch.py [--rounds 6]
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = Path("/usr/share/datasets/fashion-mnist")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=6)
    ap.add_argument("--data", default=str(DATA))
    args = ap.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.path.insert(0, str(ROOT))
    import keras
    import numpy as np

    from trainkit.config.schema import TrainerConfig
    from trainkit.data.idx import load_split
    from trainkit.data.load import Data, Split
    from trainkit.models.mnist_dnn import build
    from trainkit.strategies import Strategy
    from trainkit.topology import WorkerEnv
    from trainkit.train.loop import Trainer
    from trainkit.train.task import Task

    x, y = load_split(f"{args.data}/train-images-idx3-ubyte.gz", f"{args.data}/train-labels-idx1-ubyte.gz", 10)
    xt, yt = load_split(f"{args.data}/t10k-images-idx3-ubyte.gz", f"{args.data}/t10k-labels-idx1-ubyte.gz", 10)
    x, y = x[:55000].astype(np.float32), y[:55000].astype(np.int32)
    xt, yt = xt.astype(np.float32), yt.astype(np.int32)
    empty = x[:0]

    keras.utils.set_random_seed(0)
    import tensorflow as tf

    cfg = TrainerConfig(epochs=1, batch_size=64, optimizer="adam", learning_rate=1e-3, seed=0, steps_per_call=50)
    tk_model = build([28, 28], 10, [300, 100])
    steps = len(x) // 64
    trainer = Trainer(tk_model, Strategy(None, WorkerEnv()), cfg, Task(cfg, steps), steps_per_epoch=steps,
                      sample=(x[:2], y[:2]), log=lambda m: None)
    import trainkit.train.loop as loop

    loop.emit_progress = lambda **_: None

    plain = build([28, 28], 10, [300, 100])
    plain.set_weights(tk_model.get_weights())  # same initial weights: accuracy differs only by the loop
    plain.compile(keras.optimizers.Adam(1e-3), "sparse_categorical_crossentropy", metrics=["accuracy"])

    tk_times, plain_times = [], []
    for r in range(args.rounds):
        cfg.seed = r  # a different shuffle each round, as epochs would have
        t0 = time.perf_counter()
        trainer.fit(Data(Split(len(x), x, y), Split(0, empty, y[:0]), Split(64, xt[:64], yt[:64]), [28, 28], 10, False))
        tk_times.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        plain.fit(x, y, batch_size=64, epochs=1, verbose=0, shuffle=True)
        plain_times.append(time.perf_counter() - t0)
        print(f"round {r}: trainkit {tk_times[-1]:.3f}s  plain model.fit {plain_times[-1]:.3f}s", flush=True)
    tk, pl = statistics.median(tk_times[1:]), statistics.median(plain_times[1:])
    tk_acc = trainer.evaluate(Split(len(xt), xt, yt))["accuracy"]
    pl_acc = plain.evaluate(xt, yt, verbose=0)[1]
    print(f"steady-state epoch: trainkit {tk:.3f}s, plain {pl:.3f}s")
    print(f"RATIO trainkit/plain epoch time = {tk / pl:.3f}  (goal <= 0.40)")
    print(f"test accuracy after {args.rounds} epochs: trainkit {tk_acc:.4f}, plain {pl_acc:.4f}, "
          f"diff {100 * (tk_acc - pl_acc):+.2f} pp  (goal within 0.5 pp)")


if __name__ == "__main__":
    main()
