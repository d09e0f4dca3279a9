"""The task pieces: metrics summed as Keras state deltas equal the metric over all data at once
(the property every strategy's reduction relies on), schedules, losses, the shipped Keras table."""
from __future__ import annotations

import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from trainkit.config import keras_api
from trainkit.config.schema import TrainerConfig
from trainkit.train.task import MetricSet, Schedule, Task, make_metric


def test_shipped_keras_table_matches_the_installed_keras():
    assert keras_api.generate() == keras_api.table(), "regenerate: python -m trainkit.config.keras_api"


@pytest.mark.parametrize("spec,loss,y,pred", [
    ("accuracy", "sparse_categorical_crossentropy", "classes", "probs"),
    ({"name": "sparse_top_k_categorical_accuracy", "args": {"k": 2}}, "sparse_categorical_crossentropy", "classes", "probs"),
    ("auc", "binary_crossentropy", "binary", "sigmoid"),
    ("precision", "binary_crossentropy", "binary", "sigmoid"),
    ("mae", "mse", "values", "values2d"),      # labels [n], predictions [n, 1], as the trainer sees them
    ("rmse", "mse", "values", "values2d"),
    ("r2_score", "mse", "values2d", "values2d"),
])
def test_summed_state_deltas_equal_the_metric_on_all_data(spec, loss, y, pred):
    rng = np.random.default_rng(0)
    n = 300
    data = {"classes": rng.integers(0, 5, n).astype(np.int32),
            "probs": tf.nn.softmax(rng.normal(size=(n, 5))).numpy().astype(np.float32),
            "binary": rng.integers(0, 2, n).astype(np.int32),
            "sigmoid": rng.uniform(size=(n, 1)).astype(np.float32),
            "values": rng.normal(size=(n,)).astype(np.float32),
            "values2d": rng.normal(size=(n, 1)).astype(np.float32)}
    ys = data[y]
    ps = data[pred]
    if pred.startswith("values"):
        ps = ys.reshape(ps.shape) + rng.normal(scale=0.5, size=ps.shape).astype(np.float32)
    name, metric = make_metric(spec, loss)
    metrics = MetricSet([(name, metric)])
    metrics.prepare(ys[:2], ps[:2])
    total = np.zeros(metrics.size)
    for lo in range(0, n, 64):   # uneven batches, summed in any order (as replicas and ranks are)
        total += tf.function(metrics.deltas)(ys[lo:lo + 64], ps[lo:lo + 64]).numpy()
    _, reference = make_metric(spec, loss)
    reference.update_state(ys, ps)
    assert metrics.results(total)[name] == pytest.approx(float(reference.result()), rel=1e-5, abs=1e-6)


def test_schedules():
    cos = Schedule("cosine", 0.1, total_steps=110, warmup_steps=10, decay_rate=0.5, decay_steps=10, min_ratio=0.1)
    assert float(cos(0)) == pytest.approx(0.01) and float(cos(9)) == pytest.approx(0.1)
    assert float(cos(10)) == pytest.approx(0.1) and float(cos(60)) == pytest.approx(0.1 * (0.1 + 0.9 * 0.5))
    assert float(cos(110)) == pytest.approx(0.01) and float(cos(500)) == pytest.approx(0.01)
    exp = Schedule("exponential", 0.1, 100, 0, decay_rate=0.5, decay_steps=10, min_ratio=0)
    assert float(exp(0)) == pytest.approx(0.1) and float(exp(20)) == pytest.approx(0.025)
    warm = Schedule("warmup", 0.2, 100, 4, 1, 1, 0)
    assert [round(float(warm(s)), 4) for s in range(6)] == [0.05, 0.1, 0.15, 0.2, 0.2, 0.2]
    assert float(Schedule("constant", 0.3, 10, 0, 1, 1, 0)(7)) == pytest.approx(0.3)
    assert math.isclose(float(cos(35)), 0.1 * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * 0.25))), rel_tol=1e-5)


def test_task_builds_keras_objects_from_config():
    cfg = TrainerConfig(loss="huber", loss_args={"delta": 2.0}, metrics=["mae", {"name": "mse", "args": {"name": "m2"}}],
                        optimizer="adamw", optimizer_args={"weight_decay": 0.004}, lr_schedule="cosine",
                        warmup_epochs=1, epochs=3)
    task = Task(cfg, steps_per_epoch=10)
    assert task.kind == "regression" and task.log_names() == ["loss", "mae", "m2"]
    per_example = task.loss(np.zeros((4, 1), np.float32), np.full((4, 1), 3.0, np.float32))
    assert per_example.shape == (4,) and float(per_example[0]) == pytest.approx(0.5 * 4 + 2 * (3 - 2))  # huber, delta 2
    opt = task.optimizer()
    assert isinstance(opt, keras.optimizers.AdamW) and opt.weight_decay == 0.004
    assert float(task.schedule(0)) == pytest.approx(1e-4) and task.schedule.total == 30
    assert Task(TrainerConfig(loss="binary_crossentropy"), 1).metrics.metrics[0].__class__.__name__ == "BinaryAccuracy"
    scaled = Task(TrainerConfig(mixed_precision="mixed_float16"), 1)
    assert scaled.loss_scaling and isinstance(scaled.optimizer(), keras.optimizers.LossScaleOptimizer)


def test_philox_draws_equal_keras_defaults_with_and_without_xla():
    """train/rng.py names the algorithm only for speed: every draw must stay what Keras gives."""
    from keras.src.backend.tensorflow import random as kr

    from trainkit.train.rng import use_philox

    x = tf.ones([4, 6])

    def draws(jit):
        sg = keras.random.SeedGenerator(7)
        f = tf.function(lambda: (keras.random.dropout(x, 0.5, seed=sg), keras.random.uniform([5], seed=sg),
                                 keras.random.normal([3], seed=sg), keras.random.truncated_normal([3], seed=sg)),
                        jit_compile=jit)
        return [t.numpy() for t in f()]

    use_philox()
    use_philox()   # idempotent
    names = ("uniform", "normal", "truncated_normal", "dropout")
    philox = {n: getattr(kr, n) for n in names}
    after = {jit: draws(jit) for jit in (False, True)}
    try:
        for n in names:
            setattr(kr, n, kr._trainkit_keras[n])
        assert kr.dropout is not philox["dropout"]
        for jit in (False, True):
            for a, b in zip(draws(jit), after[jit]):
                np.testing.assert_array_equal(a, b)
    finally:
        for n in names:
            setattr(kr, n, philox[n])


def test_xla_auto_is_off_only_for_a_model_that_convolves_on_cpu():
    """trainer.jit_compile=auto: XLA's CPU convolutions made a small CNN's epoch 60x slower."""
    from trainkit.train.loop import use_xla

    inp = keras.Input((8, 8, 1))
    cnn = keras.Model(inp, keras.layers.Dense(2)(keras.layers.Flatten()(keras.layers.Conv2D(2, 3)(inp))))
    dense = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])

    class Nested(keras.Model):          # a convolution inside a subclassed model counts too
        def __init__(self):
            super().__init__()
            self.block = keras.Sequential([keras.layers.SeparableConv2D(2, 3)])

        def call(self, x):
            return self.block(x)

    assert [use_xla("auto", m, gpus=False) for m in (cnn, dense, Nested())] == [False, True, False]
    assert use_xla("auto", cnn, gpus=True) and use_xla(True, cnn, gpus=False) and not use_xla(False, dense, gpus=False)
