"""The worker side of the distributions: distribution.compression's all-reduce, checked value by
value. MultiWorkerMirrored's on two replicas of a MirroredStrategy (its replica context sums like
MultiWorkerMirrored's, in one process; a child process because logical devices must be set before
TF starts); Horovod's on two real ranks under horovodrun."""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

CHILD = textwrap.dedent("""
    import json, sys
    import numpy as np
    import tensorflow as tf
    import keras

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    from trainkit.worker.strategies import MultiWorkerMirrored

    GRADS = [[1 / 3, 1e-8, 1000.1], [4 / 3, 1e-8, 1001.1]]          # replica 0's, replica 1's
    mirrored = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])   # one: collective keys are per strategy
    out = {}
    for compression in ("none", "fp16", "bf16"):
        cfg = type("Cfg", (), {"compression": compression})
        s = MultiWorkerMirrored(cfg, None)
        s.__dict__["tf"] = mirrored                                       # the cached property
        with s.tf.scope():
            v = keras.Variable(np.zeros(3, np.float32))
            opt = keras.optimizers.SGD(learning_rate=1.0)
            opt.build([v])
        s.prepare_optimizer(opt)
        table = tf.constant(GRADS, tf.float32)

        @tf.function
        def step():
            def replica():
                i = tf.distribute.get_replica_context().replica_id_in_sync_group
                opt.apply_gradients([(table[i], v)])
            s.tf.run(replica)

        step()
        out[compression] = (-v.numpy()).tolist()                     # SGD, lr 1: the summed gradient
    print("RESULT " + json.dumps(out))
""")


def test_compression_sums_the_gradients_cast_to_the_wire_dtype_once_instead_of_keras_own_sum():
    proc = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    got = json.loads(proc.stdout.split("RESULT ", 1)[1])
    a, b = [1 / 3, 1e-8, 1000.1], [4 / 3, 1e-8, 1001.1]
    f32 = (np.float32(a) + np.float32(b)).tolist()
    f16 = (np.float16(a) + np.float16(b)).astype(np.float32).tolist()    # cast, summed in fp16, cast back
    assert got["none"] == pytest.approx(f32, rel=1e-7)                   # Keras' own float32 sum, once
    assert got["fp16"] == f16 and got["fp16"] != got["none"]             # replaced, not added to
    assert got["fp16"][1] == 0.0                                          # fp16 flushes 2e-8 to zero
    # bf16: fp32's range (2e-8 survives) with 8 bits of mantissa (2001.2 -> 2000)
    assert got["bf16"][1] == pytest.approx(2e-8, rel=1e-2) and got["bf16"][2] == 2000.0
    assert got["bf16"][0] == pytest.approx(5 / 3, rel=1e-2) and got["bf16"][0] != got["none"][0]


HOROVOD_CHILD = textwrap.dedent("""
    import json
    import tensorflow as tf
    from trainkit.topology import WorkerEnv
    from trainkit.worker.strategies import Horovod

    cfg = type("Cfg", (), {"compression": "fp16", "backend": "gloo", "cycle_time_ms": 0.1})
    s = Horovod(cfg, WorkerEnv.detect())
    grads = [tf.constant([[1 / 3, 1e-8, 1000.1], [4 / 3, 1e-8, 1001.1]][s.hvd.rank()]), None]
    summed = s.transform_grads(grads)
    if s.hvd.rank() == 0:
        print("RESULT " + json.dumps([summed[0].numpy().tolist(), summed[0].dtype.name, summed[1]]))
""")


@pytest.mark.skipif(not Path(sys.executable).with_name("horovodrun").exists(),
                    reason="needs bash scripts/build_horovod.sh")
def test_horovod_fp16_sums_over_two_real_ranks_in_half_precision_and_returns_float32():
    horovodrun = str(Path(sys.executable).with_name("horovodrun"))
    proc = subprocess.run([horovodrun, "-np", "2", "-H", "localhost:2", "--gloo", sys.executable, "-c", HOROVOD_CHILD],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    values, dtype, missing = json.loads(proc.stdout.split("RESULT ", 1)[1].splitlines()[0])
    expected = (np.float16([1 / 3, 1e-8, 1000.1]) + np.float16([4 / 3, 1e-8, 1001.1])).astype(np.float32)
    assert values == expected.tolist() and dtype == "float32" and missing is None
