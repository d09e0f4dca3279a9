"""Benchmark: onnxruntime vs TensorFlow serving the same model, in one process, same inputs.

Prints two same-run ratios (the issue's goals in brackets):
  latency    = onnxruntime batch-1 latency / warm TF call latency          [goal <= 0.10]
  throughput = onnxruntime images/s / TF images/s at batch 1024           [goal >= 1.0]

The TF baseline is the fastest plain TF path: the Keras model wrapped once in a `tf.function`
(traced before timing). Eager `model(x)` is also printed, for reference.

    .venv/bin/python scripts/bench_onnx.py [--model NAME[:VERSION|@ALIAS]] [--repeats 2000]

Without --model it builds the default MNIST DNN (784-300-100-10; speed does not depend on the
weights) and converts it with the same code path as the registry.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def median_seconds(fn, repeats: int, warmup: int = 50) -> float:
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t)
    return statistics.median(samples)


def load(args, tmp: Path):
    import keras

    from trainkit.registry.export import convert

    if args.model:
        from trainkit.cli.main import Context
        from trainkit.registry.store import ModelRef

        reg = Context(argparse.Namespace(registry=None, workspace=None)).registry
        name, version = reg.resolve(ModelRef.parse(args.model))
        reg.download(name, version, tmp, "model.keras")
        reg.download(name, version, tmp, "model.onnx")
        return keras.saving.load_model(tmp / "model.keras", compile=False), tmp / "model.onnx", f"{name}:{version}"
    from models.mnist_dnn import build

    model = build(input_shape=[28, 28], hidden=[300, 100], num_classes=10, seed=0)
    convert(model, tmp / "model.onnx", 17)
    return model, tmp / "model.onnx", "mnist_dnn (fresh weights)"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", help="a registered model reference (default: build the MNIST DNN)")
    p.add_argument("--repeats", type=int, default=2000, help="timed batch-1 calls per engine")
    p.add_argument("--big-repeats", type=int, default=30, help="timed batch-1024 calls per engine")
    args = p.parse_args()

    import numpy as np
    import onnxruntime as ort
    import tensorflow as tf

    with tempfile.TemporaryDirectory() as tmp:
        model, onnx_path, label = load(args, Path(tmp))
        session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
        inp = session.get_inputs()[0].name
        rng = np.random.default_rng(0)
        x1 = rng.uniform(0, 255, (1, 28, 28)).astype(np.float32)
        xb = rng.uniform(0, 255, (1024, 28, 28)).astype(np.float32)
        served = tf.function(lambda x: model(x, training=False), reduce_retracing=True)
        t1, tb = tf.constant(x1), tf.constant(xb)
        served(t1), served(tb)                             # trace both shapes before timing

        ort_1 = median_seconds(lambda: session.run(None, {inp: x1}), args.repeats)
        binding = session.io_binding()                     # pre-bound input: the serving fast path
        binding.bind_cpu_input(inp, x1)
        binding.bind_output(session.get_outputs()[0].name)
        bound_1 = median_seconds(lambda: (session.run_with_iobinding(binding), binding.copy_outputs_to_cpu()),
                                 args.repeats)
        tf_1 = median_seconds(lambda: served(t1).numpy(), args.repeats)
        eager_1 = median_seconds(lambda: model(t1, training=False).numpy(), max(args.repeats // 4, 50))
        ort_b = median_seconds(lambda: session.run(None, {inp: xb}), args.big_repeats, warmup=5)
        tf_b = median_seconds(lambda: served(tb).numpy(), args.big_repeats, warmup=5)

        diff = float(np.max(np.abs(session.run(None, {inp: xb})[0] - served(tb).numpy())))
    print(f"model: {label}; onnxruntime {ort.__version__}, tensorflow {tf.__version__}, "
          f"{os.cpu_count()} CPU(s); |onnx - tf| max {diff:.2g}")
    print(f"batch 1    latency: onnxruntime {ort_1 * 1e6:8.1f} us | tf.function {tf_1 * 1e6:8.1f} us | "
          f"eager call {eager_1 * 1e6:8.1f} us | onnxruntime io-binding {bound_1 * 1e6:6.1f} us")
    print(f"batch 1024 throughput: onnxruntime {1024 / ort_b:10.0f} img/s | tf.function {1024 / tf_b:10.0f} img/s")
    print(f"RATIO latency    onnxruntime/tf = {ort_1 / tf_1:.3f}   (goal <= 0.10; with io-binding {bound_1 / tf_1:.3f}; vs eager {ort_1 / eager_1:.3f})")
    print(f"RATIO throughput onnxruntime/tf = {tf_b / ort_b:.3f}   (goal >= 1.0)")
    return 0



if __name__ == "__main__":
    sys.exit(main())
