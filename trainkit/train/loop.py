"""trainkit's own training loop: a custom step under `strategy.run`, several steps fused per
tf.function call, optional XLA, a tf.data pipeline, Keras callback hooks, atomic checkpoints.

Keras 3's `fit` breaks under MultiWorkerMirrored and parameter-server strategies and Horovod needs
its own gradient reduction, so this loop never assumes one process: every reduction goes through
the strategy and `tf.nn.compute_average_loss` uses the global batch.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np


def emit_progress(**event) -> None:
    """A machine-readable progress line; the launcher turns these into a progress bar."""
    print("@@progress " + json.dumps(event), flush=True)


@dataclass
class Arrays:
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


@dataclass
class TrainResult:
    history: list[dict] = field(default_factory=list)
    test: dict = field(default_factory=dict)
    start_epoch: int = 0
    stopped_early: bool = False


def make_optimizer(name: str, learning_rate: float):
    import keras

    classes = {"adam": keras.optimizers.Adam, "adamw": keras.optimizers.AdamW,
               "sgd": keras.optimizers.SGD, "rmsprop": keras.optimizers.RMSprop}
    return classes[name](learning_rate=learning_rate)


class Trainer:
    """Fits a Keras 3 model with any tf.distribute strategy, one process or many."""

    def __init__(self, model, strategy, trainer_cfg: dict, *, world_size: int = 1,
                 is_chief: bool = True, checkpointer=None, callbacks: list | None = None,
                 grad_transform: Callable | None = None, sync_initial_state: Callable | None = None,
                 reduce_sums: Callable | None = None, shard: tuple[int, int] | None = None,
                 jit_ok: bool = True, coordinated: bool = False, log: Callable[[str], None] = print):
        import keras
        import tensorflow as tf

        self.tf, self.keras = tf, keras
        self.model, self.strategy, self.cfg = model, strategy, trainer_cfg
        self.world_size, self.is_chief = world_size, is_chief
        self.ckpt = checkpointer
        self.log = log
        self.global_batch = int(trainer_cfg["batch_size"])
        lr = float(trainer_cfg["learning_rate"])
        if trainer_cfg.get("scale_lr_by_world_size"):
            lr *= world_size
        with strategy.scope():
            self.optimizer = make_optimizer(trainer_cfg["optimizer"], lr)
            self.optimizer.build(model.trainable_variables)
            # compile() only attaches optimizer and loss so callbacks that read model.optimizer
            # (TensorBoard, ReduceLROnPlateau, ...) work; training never calls fit().
            model.compile(optimizer=self.optimizer, loss="sparse_categorical_crossentropy")
        self.grad_transform = grad_transform
        self.sync_initial_state = sync_initial_state
        self.reduce_sums = reduce_sums      # sums metric tensors over processes TF does not know of
        self.shard = shard                  # (shards, index) for such processes (Horovod)
        self.jit = bool(trainer_cfg.get("jit_compile")) and jit_ok    # the whole step group
        self.jit_grads = bool(trainer_cfg.get("jit_compile")) and not jit_ok and not coordinated  # fwd+bwd only
        self._tensors: dict = {}
        self.callbacks = keras.callbacks.CallbackList(callbacks or [], model=model)
        self.coordinator = self._ps_iter = None
        if coordinated:  # parameter server: this process schedules steps on the workers
            self.coordinator = tf.distribute.coordinator.ClusterCoordinator(strategy)
            self._train_chunk = self._build_coordinated_chunk()
            self._eval_pass = self._build_local_eval()
        else:
            self._train_chunk = self._build_train_chunk()
            self._eval_pass = self._build_eval_pass()

    # ---------------------------------------------------------------- tf.functions
    def _build_train_chunk(self):
        """One call = up to steps_per_call optimizer steps, looped inside one (XLA) function."""
        tf, strategy, step = self.tf, self.strategy, self._replica_step()

        def chunk(xs, ys):  # xs: [steps, per-replica batch, ...]
            def body(i, loss_sum, correct):
                sums = step(xs[i], ys[i])
                return i + 1, loss_sum + sums[0], correct + sums[1]

            _, loss_sum, correct = tf.while_loop(lambda i, *_: i < tf.shape(xs)[0], body,
                                                 (tf.constant(0), tf.constant(0.0), tf.constant(0.0)))
            return loss_sum, correct

        if self.strategy is tf.distribute.get_strategy():
            # TF's default strategy (single, Horovod): the whole group of steps runs inside the
            # replica function, compiled by XLA unless Horovod's collectives are involved.
            chunk = tf.function(chunk, jit_compile=self.jit)

            @tf.function
            def train_chunk(xs, ys):
                l, c = strategy.run(chunk, args=(xs, ys))
                return strategy.reduce("SUM", l, axis=None), strategy.reduce("SUM", c, axis=None)

            return train_chunk

        # A tf.distribute strategy: apply_gradients synchronises replicas (merge_call), which TF
        # allows only at the top of the replica function, so the step loop is outside strategy.run.
        @tf.function
        def train_chunk_replicated(xs, ys):
            steps = tf.shape(strategy.experimental_local_results(xs)[0])[0]
            total = self._steps_outside_replicas(step, xs, ys, steps)
            return total[0], total[1]

        return train_chunk_replicated

    def _steps_outside_replicas(self, step, xs, ys, n):
        """Run steps 0..n-1 of a step group, one `strategy.run` each; summed [loss sum, correct]."""
        tf, strategy = self.tf, self.strategy
        total = tf.zeros([2])
        for i in tf.range(n):
            sums = strategy.run(lambda a, b: step(a[i], b[i]), args=(xs, ys))
            total += strategy.reduce("SUM", sums, axis=None)
        return total

    def _replica_step(self):
        """One optimizer step on one replica's batch; returns [sum of per-example losses, correct].

        When the whole step group cannot be XLA-compiled (collectives, replica synchronisation),
        the forward and backward pass still are: only the reduction and the update run outside."""
        tf, keras, model, opt, gb = self.tf, self.keras, self.model, self.optimizer, self.global_batch
        grad_transform = self.grad_transform

        def grads_and_sums(x, y):
            with tf.GradientTape() as tape:
                probs = model(x, training=True)
                per_example = keras.losses.sparse_categorical_crossentropy(y, probs)
                loss = tf.nn.compute_average_loss(per_example, global_batch_size=gb)
                if model.losses:
                    loss += tf.nn.scale_regularization_loss(tf.add_n(model.losses))
            grads = tape.gradient(loss, model.trainable_variables)
            return grads, tf.stack([tf.reduce_sum(per_example), _correct(tf, probs, y)])

        if self.jit_grads:
            grads_and_sums = tf.function(grads_and_sums, jit_compile=True)

        def step(x, y):
            grads, sums = grads_and_sums(x, y)
            if grad_transform is not None:
                grads = grad_transform(grads)
            opt.apply_gradients(zip(grads, model.trainable_variables))
            return sums

        return step

    def _build_coordinated_chunk(self):
        """Parameter server: one scheduled function = a group of steps on whichever worker is free,
        reading that worker's own dataset iterator; variables are read from and written to the ps."""
        tf, step = self.tf, self._replica_step()

        @tf.function
        def worker_fn(iterator):
            xs, ys = next(iterator)
            return self._steps_outside_replicas(step, xs, ys, tf.shape(xs)[0])

        return worker_fn

    def _build_local_eval(self):
        """Evaluation on this process with plain batches (parameter server: variables read from ps)."""
        eval_batch = self.tf.function(self._eval_sums)

        def eval_pass(batches):
            totals = np.zeros(3)
            for x, y in batches:
                totals += [float(v) for v in eval_batch(x, y)]
            return totals

        return eval_pass

    def _fit_epoch_coordinated(self, data: Arrays, steps: int, k: int) -> tuple[float, float, int]:
        """Schedule one epoch's worth of step groups and wait for all of them."""
        tf = self.tf
        if self._ps_iter is None:
            # Pixels travel as uint8 inside the dataset function (4x smaller than float32).
            x8, y = data.x_train.astype(np.uint8), data.y_train
            gb, buf = self.global_batch, int(self.cfg.get("shuffle_buffer") or 0) or len(y)

            def dataset_fn():
                ds = tf.data.Dataset.from_tensor_slices((x8, y)).shuffle(buf).repeat()
                ds = ds.map(lambda a, b: (tf.cast(a, tf.float32), b))
                return ds.batch(gb, drop_remainder=True).batch(k, drop_remainder=True).prefetch(2)

            self._ps_iter = iter(self.coordinator.create_per_worker_dataset(dataset_fn))
        calls = -(-steps // k)
        results = [self.coordinator.schedule(self._train_chunk, args=(self._ps_iter,)) for _ in range(calls)]
        self.coordinator.join()
        totals = np.sum([r.fetch() for r in results], axis=0)
        return float(totals[0]), float(totals[1]), calls * k

    def _eval_sums(self, x, y):
        """Sum of per-example losses, correct predictions and count for one evaluation batch."""
        tf = self.tf
        probs = self.model(x, training=False)
        per_example = self.keras.losses.sparse_categorical_crossentropy(y, probs)
        return tf.reduce_sum(per_example), _correct(tf, probs, y), tf.cast(tf.shape(y)[0], tf.float32)

    def _build_eval_pass(self):
        tf, strategy, step = self.tf, self.strategy, self._eval_sums

        @tf.function
        def eval_pass(dist_ds):
            loss_sum, correct, count = tf.constant(0.0), tf.constant(0.0), tf.constant(0.0)
            for x, y in dist_ds:
                l, c, n = strategy.run(step, args=(x, y))
                loss_sum += strategy.reduce("SUM", l, axis=None)
                correct += strategy.reduce("SUM", c, axis=None)
                count += strategy.reduce("SUM", n, axis=None)
            return loss_sum, correct, count

        return eval_pass

    # ---------------------------------------------------------------- data
    def _dataset(self, x, y, *, shuffle_seed: int | None, steps_per_element: int | None):
        """tf.data: cache, seeded per-epoch shuffle, then groups of `steps_per_element` per-replica
        batches so one call runs many steps.

        Training data is sharded so that every strategy sees the single-process global batches:
        each input pipeline shuffles the whole split with the same seed, cuts it into global
        batches and gives each of its replicas that replica's slice. Evaluation data is sharded."""
        tf, gb = self.tf, self.global_batch
        key = id(x)
        if key not in self._tensors:  # convert once: later epochs reuse the same tensors
            self._tensors[key] = (tf.convert_to_tensor(x), tf.convert_to_tensor(y))
        tx, ty = self._tensors[key]
        buf = int(self.cfg.get("shuffle_buffer") or 0) or len(x)
        external = self.shard

        def dataset_fn(ctx):
            n, i = external or (ctx.num_input_pipelines, ctx.input_pipeline_id)
            per_replica = gb // n if external else ctx.get_per_replica_batch_size(gb)
            ds = tf.data.Dataset.from_tensor_slices((tx, ty)).cache()
            if steps_per_element:
                if shuffle_seed is not None:
                    ds = ds.shuffle(buf, seed=shuffle_seed, reshuffle_each_iteration=False)
                ds = ds.batch(gb, drop_remainder=True).batch(steps_per_element)  # [steps, global batch]
                replicas = 1 if external else ctx.num_replicas_in_sync // ctx.num_input_pipelines
                if n * replicas > 1:
                    # consecutive elements of a pipeline go to its consecutive replicas: emit each
                    # replica's slice of the same global batches, in replica order
                    def slices(bx, by):
                        def take(r):
                            lo = (i * replicas + tf.cast(r, tf.int32)) * per_replica
                            return bx[:, lo:lo + per_replica], by[:, lo:lo + per_replica]
                        return tf.data.Dataset.range(replicas).map(take)
                    ds = ds.flat_map(slices)
            else:
                if n > 1:
                    ds = ds.shard(n, i)
                ds = ds.batch(per_replica * 16)
            return ds.prefetch(tf.data.AUTOTUNE)

        return self.strategy.distribute_datasets_from_function(dataset_fn)

    def _sum(self, *values) -> list[float]:
        """Python floats of metric sums, summed over Horovod ranks when there are several."""
        if self.reduce_sums is None:
            return [float(v) for v in values]
        return [float(v) for v in self.reduce_sums([self.tf.cast(v, self.tf.float32) for v in values])]

    def evaluate(self, x, y) -> dict:
        if self.coordinator is not None:
            loss_sum, correct, n = self._eval_pass((x[i:i + 1024], y[i:i + 1024]) for i in range(0, len(x), 1024))
        else:
            loss_sum, correct, n = self._sum(*self._eval_pass(
                self._dataset(x, y, shuffle_seed=None, steps_per_element=None)))
        return {"loss": loss_sum / max(n, 1), "accuracy": correct / max(n, 1), "count": int(n)}

    # ---------------------------------------------------------------- fit
    def fit(self, data: Arrays, on_epoch: Callable[[dict], None] | None = None) -> TrainResult:
        epochs, seed = int(self.cfg["epochs"]), int(self.cfg["seed"])
        k = int(self.cfg["steps_per_call"])
        steps = len(data.x_train) // self.global_batch
        if steps == 0:
            raise ValueError(f"trainer.batch_size={self.global_batch} is larger than the "
                             f"{len(data.x_train)} training images")
        result = TrainResult()
        ckpt_vars = self.checkpoint_variables()
        state = self.ckpt.restore(ckpt_vars) if self.ckpt else None
        if state:
            result.start_epoch, result.history = state["epoch"], list(state["history"])
            self.log(f"resumed from checkpoint: epoch {state['epoch']} complete, continuing at "
                     f"epoch {state['epoch'] + 1}/{epochs}")
        if self.sync_initial_state is not None:  # Horovod: rank 0's weights and optimizer slots
            self.sync_initial_state(ckpt_vars)    # (built in __init__) to all, before any step
        self.callbacks.on_train_begin()
        self.model.stop_training = False
        for epoch in range(result.start_epoch, epochs):
            t0 = time.perf_counter()
            self.callbacks.on_epoch_begin(epoch)
            if self.coordinator is not None:
                loss_sum, correct, done = self._fit_epoch_coordinated(data, steps, k)
                chunks = []
            else:
                chunks = self._dataset(data.x_train, data.y_train, shuffle_seed=seed * 1000 + epoch,
                                       steps_per_element=k)
                loss_sum = correct = 0.0
                done = 0
            for xs, ys in chunks:
                self.callbacks.on_train_batch_begin(done)
                l, c = self._sum(*self._train_chunk(xs, ys))
                loss_sum, correct = loss_sum + l, correct + c
                done = min(done + k, steps)
                seen = done * self.global_batch
                self.callbacks.on_train_batch_end(done - 1, {"loss": loss_sum / seen,
                                                             "accuracy": correct / seen})
                if self.is_chief:
                    emit_progress(epoch=epoch + 1, epochs=epochs, step=done, steps=steps)
            seen = max(done, steps) * self.global_batch
            logs = {"epoch": epoch + 1, "loss": loss_sum / seen, "accuracy": correct / seen}
            if len(data.x_val):
                val = self.evaluate(data.x_val, data.y_val)
                logs.update(val_loss=val["loss"], val_accuracy=val["accuracy"])
            logs["epoch_time_s"] = time.perf_counter() - t0
            self.callbacks.on_epoch_end(epoch, dict(logs))
            result.history.append(logs)
            if self.ckpt and self.is_chief and ((epoch + 1) % int(self.cfg["checkpoint"]["every_epochs"]) == 0
                                                or epoch + 1 == epochs):
                self.ckpt.save(epoch + 1, ckpt_vars, result.history)
            if on_epoch:
                on_epoch(logs)
            self.log(format_epoch(logs, epochs))
            if self.model.stop_training:
                result.stopped_early = True
                break
        self.callbacks.on_train_end({"epochs": len(result.history)})
        result.test = self.evaluate(data.x_test, data.y_test)
        return result

    def checkpoint_variables(self) -> list:
        return list(self.model.variables) + list(self.optimizer.variables)


def _correct(tf, probs, y):
    """How many predictions in a batch match their labels (a float32 scalar)."""
    return tf.reduce_sum(tf.cast(tf.equal(tf.argmax(probs, -1, output_type=y.dtype), y), tf.float32))


def format_epoch(logs: dict, epochs: int) -> str:
    parts = [f"epoch {logs['epoch']}/{epochs}"]
    for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
        if key in logs:
            parts.append(f"{key}={logs[key]:.4f}")
    parts.append(f"({logs['epoch_time_s']:.2f}s)")
    return " ".join(parts)

