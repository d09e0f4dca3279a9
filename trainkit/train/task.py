"""What a model is trained for: its loss, metrics, optimizer, learning-rate schedule and precision,
built from `trainer` config (Keras names or `module:Class`, as checked at compose time).

Metrics are reduced exactly under every strategy: each step reports how a fresh copy of every
metric's Keras state variables would change (`stateless_update_state`), the trainer sums those
deltas over steps, replicas and processes, and `stateless_result` turns the sums into the value.
That is exact for every built-in Keras metric (their states are counts and sums); a custom metric
must have additive states too."""
from __future__ import annotations

import math

import keras
import numpy as np

from ..config import keras_api
from ..targets import import_object


def _is_target(name: str) -> bool:
    return ":" in name or "." in name


def make_loss(name: str, args: dict):
    """A callable (y_true, y_pred) -> per-example losses (trainkit averages over the global batch)."""
    if _is_target(name):
        obj = import_object(name)
        if isinstance(obj, type):
            loss = obj(**args)
            if isinstance(loss, keras.losses.Loss):
                loss.reduction = None
            return loss
        return (lambda y, p: obj(y, p, **args)) if args else obj
    cls = getattr(keras.losses, keras_api.lookup("losses", name)["class"])
    return cls(**args, reduction=None)


def make_metric(spec, loss_name: str) -> tuple[str, keras.metrics.Metric]:
    """(log name, Keras metric) for `trainer.metrics` entries; `accuracy` fits the loss."""
    name, args = (spec, {}) if isinstance(spec, str) else (spec["name"], dict(spec.get("args") or {}))
    log_name = str(args.pop("name", None) or name)
    if _is_target(name):
        obj = import_object(name)
        if isinstance(obj, type):
            return log_name, obj(**args)
        return log_name, keras.metrics.MeanMetricWrapper(obj, name=log_name, **args)
    key = name.lower()
    if key in ("accuracy", "acc"):
        key = keras_api.ACCURACY_FOR_LOSS.get(loss_name, "accuracy")
    entry = keras_api.lookup("metrics", key)
    return log_name, getattr(keras.metrics, entry["class"])(name=log_name, **args)


def task_kind(loss_name: str) -> str:
    """classification | binary | regression: how predictions compare with labels (ONNX parity)."""
    if loss_name in ("sparse_categorical_crossentropy", "categorical_crossentropy", "categorical_focal_crossentropy"):
        return "classification"
    if loss_name in ("binary_crossentropy", "binary_focal_crossentropy"):
        return "binary"
    return "regression"


def precision_policy(setting: str) -> str:
    """The Keras dtype policy of `trainer.mixed_precision`."""
    if setting == "off":
        return "float32"
    if setting == "auto":
        import tensorflow as tf

        return "mixed_float16" if tf.config.list_physical_devices("GPU") else "mixed_bfloat16"
    return setting


class Schedule(keras.optimizers.schedules.LearningRateSchedule):
    """constant | cosine | exponential, after an optional linear warm-up (`warmup` = warm-up, then
    constant). Steps are optimizer steps; epochs are converted with the steps per epoch."""

    def __init__(self, kind: str, base: float, total_steps: int, warmup_steps: int, decay_rate: float,
                 decay_steps: float, min_ratio: float):
        self.kind, self.base, self.total, self.warmup = kind, base, total_steps, warmup_steps
        self.decay_rate, self.decay_steps, self.min_ratio = decay_rate, decay_steps, min_ratio

    def __call__(self, step):
        ops = keras.ops
        step = ops.cast(step, "float32")
        after = ops.maximum(step - self.warmup, 0.0)
        if self.kind == "cosine":
            progress = ops.minimum(after / max(self.total - self.warmup, 1), 1.0)
            lr = self.base * (self.min_ratio + (1 - self.min_ratio) * 0.5 * (1 + ops.cos(math.pi * progress)))
        elif self.kind == "exponential":
            lr = self.base * ops.power(self.decay_rate, after / self.decay_steps)
        else:
            lr = ops.convert_to_tensor(self.base, "float32")
        if self.warmup > 0:
            lr = ops.where(step < self.warmup, self.base * (step + 1) / self.warmup, lr)
        return lr

    def get_config(self) -> dict:
        return {"kind": self.kind, "base": self.base, "total_steps": self.total, "warmup_steps": self.warmup,
                "decay_rate": self.decay_rate, "decay_steps": self.decay_steps, "min_ratio": self.min_ratio}


class MetricSet:
    """Keras metrics as sums of state deltas (see the module docstring)."""

    def __init__(self, metrics: list[tuple[str, keras.metrics.Metric]]):
        self.names = [n for n, _ in metrics]
        self.metrics = [m for _, m in metrics]
        self.init: list[list[np.ndarray]] = []
        self.size = 0

    def prepare(self, y, pred) -> None:
        """Build every metric's state on a sample batch (some, like R2Score, shape their state
        from the data), then record the initial state the deltas are taken from."""
        for metric in self.metrics:
            metric.update_state(y, pred)
            metric.reset_state()
        self.init = [[np.asarray(keras.ops.convert_to_numpy(v)) for v in m.variables] for m in self.metrics]
        self.size = sum(a.size for state in self.init for a in state)

    def deltas(self, y, pred):
        """How one batch changes every metric's state, flattened to float32 (a graph op)."""
        import tensorflow as tf

        parts = [tf.zeros([0])]
        for metric, init in zip(self.metrics, self.init):
            new = metric.stateless_update_state([tf.constant(a) for a in init], y, pred)
            parts += [tf.reshape(tf.cast(n, tf.float32) - tf.constant(a, tf.float32), [-1]) for n, a in zip(new, init)]
        return tf.concat(parts, 0)

    def results(self, sums) -> dict:
        """Metric values from summed deltas."""
        out, offset = {}, 0
        for name, metric, init in zip(self.names, self.metrics, self.init):
            state = []
            for a in init:
                state.append((a.astype(np.float64) + np.asarray(sums[offset:offset + a.size]).reshape(a.shape)).astype(a.dtype))
                offset += a.size
            value = np.asarray(keras.ops.convert_to_numpy(metric.stateless_result(state)))
            out[name] = float(value) if value.size == 1 else [float(v) for v in value.ravel()]
        return out


class Task:
    """Loss, metrics, optimizer factory and schedule for one run."""

    def __init__(self, cfg, steps_per_epoch: int, world_size: int = 1):
        self.cfg = cfg
        self.loss_name = keras_api.canonical_loss(cfg.loss)
        self.loss = make_loss(cfg.loss, dict(cfg.loss_args))
        self.metrics = MetricSet([make_metric(m, self.loss_name) for m in cfg.metrics])
        self.kind = task_kind(self.loss_name)
        self.policy = precision_policy(cfg.mixed_precision)
        base = cfg.learning_rate * (world_size if cfg.scale_lr_by_world_size else 1)
        self.schedule = Schedule(cfg.lr_schedule, base, total_steps=steps_per_epoch * cfg.epochs,
                                 warmup_steps=round(cfg.warmup_epochs * steps_per_epoch),
                                 decay_rate=cfg.lr_decay_rate, decay_steps=max(cfg.lr_decay_epochs * steps_per_epoch, 1),
                                 min_ratio=cfg.min_lr_ratio)

    @property
    def loss_scaling(self) -> bool:
        return self.policy == "mixed_float16"

    def optimizer(self):
        """A new optimizer (call inside the strategy's scope)."""
        name = self.cfg.optimizer
        cls = import_object(name) if _is_target(name) else \
            getattr(keras.optimizers, keras_api.lookup("optimizers", name)["class"])
        opt = cls(learning_rate=self.schedule, **self.cfg.optimizer_args)
        return keras.optimizers.LossScaleOptimizer(opt) if self.loss_scaling else opt

    def log_names(self) -> list[str]:
        return ["loss", *self.metrics.names]
