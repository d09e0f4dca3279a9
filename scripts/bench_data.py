"""Benchmark: images/s of each dataset format's training input pipeline against the in-memory IDX
pipeline on the same Fashion-MNIST images, in one run (trainkit's own pipeline code, single
process, batch 64, steps_per_call 50, one full epoch each, median of --repeats; no training).

    python scripts/make_datasets.py --out DIR          # once: CSV, Parquet, NPZ, PNG, TFRecord
    python scripts/bench_data.py [--data DIR] [--repeats 3] [--formats ...]

Prints each format's rate and its ratio to in-memory IDX (goal: streaming TFRecord >= 0.8x).
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# (dataset preset, in_memory setting) -> label
CASES = [("fashion_mnist", "auto", "idx, in memory (baseline)"),
         ("fashion_npz", "true", "npz, in memory"),
         ("fashion_csv", "true", "csv, in memory"),
         ("fashion_csv", "false", "csv, streamed"),
         ("fashion_parquet", "false", "parquet, streamed"),
         ("fashion_png", "true", "image_folder (png), in memory"),
         ("fashion_png", "false", "image_folder (png), streamed"),
         ("fashion_tfrecord", "false", "tfrecord, streamed")]


def build(preset: str, in_memory: str, ws: str):
    """The registered dataset and its Data, as a worker would see them."""
    from hydra import compose, initialize_config_module
    from hydra.core.global_hydra import GlobalHydra
    from omegaconf import OmegaConf

    from trainkit.config.schema import DatasetConfig, from_dict
    from trainkit.config.store import register_configs
    from trainkit.data.datasets import DatasetStore
    from trainkit.data.load import load_data
    from trainkit.records.workspace import WorkspacePaths

    register_configs()
    GlobalHydra.instance().clear()
    with initialize_config_module("trainkit.conf", version_base="1.3"):
        cfg = compose("config", overrides=[f"dataset={preset}", f"dataset.in_memory={in_memory}",
                                           "dataset.validation_size=0", "dataset.validation_fraction=0"])
    ds = from_dict(DatasetConfig, OmegaConf.to_container(cfg.dataset, resolve=True))
    dv = DatasetStore(WorkspacePaths.at(ws)).prepare(ds)
    return load_data(ds, dv.to_json())


def epoch_rate(data) -> float:
    """Examples per second through one epoch of the training pipeline (x consumed, no model)."""
    import tensorflow as tf

    from trainkit.config.schema import TrainerConfig
    from trainkit.worker.strategies import Strategy
    from trainkit.topology import WorkerEnv
    from trainkit.train.loop import DistributedSteps

    cfg = TrainerConfig(batch_size=64, steps_per_call=50)
    fake = type("T", (), {})()
    fake.tf, fake.cfg, fake.global_batch = tf, cfg, 64
    fake.strategy = Strategy(None, WorkerEnv())
    fake.steps_per_epoch = data.train.count // 64
    steps = DistributedSteps.__new__(DistributedSteps)
    steps.t, steps._tensors = fake, {}
    consume = tf.function(lambda xs, ys: tf.reduce_sum(xs) + tf.cast(tf.reduce_sum(ys), tf.float32))
    t0, n = time.perf_counter(), 0
    for xs, ys, real in steps._dataset(data.train, shuffle_seed=1, steps_per_element=50):   # real: steps that count
        consume(xs, ys)
        n += int(real) * int(xs.shape[1])
    return n / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=os.environ.get("TRAINKIT_DATA") or str(Path.home() / ".trainkit" / "data"))
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--formats", default=",".join(sorted({c[0] for c in CASES})))
    args = ap.parse_args()
    os.environ["TRAINKIT_DATA"] = args.data
    sys.path.insert(0, str(ROOT))
    from trainkit.tfquiet import import_tensorflow

    import_tensorflow()
    wanted = set(args.formats.split(","))
    samples: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as ws:
        datas = {label: build(preset, in_memory, ws) for preset, in_memory, label in CASES if preset in wanted}
        for data in datas.values():
            epoch_rate(data)   # warm-up: tracing, file cache
        for r in range(args.repeats):   # interleaved rounds: every format sees the same machine noise
            for label, data in datas.items():
                samples.setdefault(label, []).append(epoch_rate(data))
                print(f"round {r}: {label:<34} {samples[label][-1]:>12,.0f} images/s", flush=True)
    rates = {label: statistics.median(v) for label, v in samples.items()}
    base = rates.get(CASES[0][2])
    if base:
        print(f"\n{'format':<34} {'images/s':>12}  ratio to in-memory IDX")
        for label, rate in rates.items():
            goal = "  (goal >= 0.8)" if label.startswith("tfrecord") else ""
            print(f"{label:<34} {rate:>12,.0f}  {rate / base:.2f}{goal}")


if __name__ == "__main__":
    main()
