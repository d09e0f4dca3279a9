"""trainkit's own training loop: a custom step under `strategy.run`, several steps fused per
tf.function call, optional XLA, a tf.data pipeline, Keras callback hooks, atomic checkpoints.

Keras 3's `fit` breaks under MultiWorkerMirrored and parameter-server strategies and Horovod needs
its own gradient reduction, so this loop never assumes one process: every reduction goes through
the strategy and `tf.nn.compute_average_loss` uses the global batch. Each step returns one vector
of sums, [loss sum, example count, metric state deltas...] (see train/task.py), that is summed
over steps, replicas and processes; epoch metrics are computed from those sums.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Callable, Iterator

import numpy as np

from ..errors import TrainkitError


def emit_progress(**event) -> None:
    """A machine-readable progress line; the launcher turns these into a progress bar."""
    print("@@progress " + json.dumps(event), flush=True)


# One input pipeline element holds a whole group of steps' batches, and tf.data prefetches several:
# at batch 1024 x 50 steps of 28x28 float32 images an element was 160 MB and a streamed run peaked at
# 1.5 GB. Bigger batches get fewer steps per call instead (docs/operations/benchmarks.md).
GROUP_BUDGET_BYTES = 64 << 20


def steps_per_call_for(steps_per_call: int, batch_bytes: int, budget: int = GROUP_BUDGET_BYTES) -> int:
    """trainer.steps_per_call, lowered so that one group of batches stays within `budget` bytes (at least 1)."""
    return max(1, min(steps_per_call, budget // max(batch_bytes, 1)))


@dataclass
class TrainResult:
    history: list[dict] = field(default_factory=list)
    test: dict = field(default_factory=dict)
    start_epoch: int = 0
    stopped_early: bool = False
    steps_per_call: int = 0       # steps fused per call, after the memory bound


class DistributedSteps:
    """Steps for strategies whose replicas all run every step: single, mirrored, MultiWorker-
    Mirrored and Horovod. A call runs a group of `steps_per_call` steps; under TF's default strategy
    the whole group is one XLA call, otherwise each step's forward and backward pass is.

    Every group has the same shape: the epoch's last, shorter group is padded and carries its real
    step count `n`, so nothing is traced or compiled again at the end of the first epoch."""

    def __init__(self, trainer: "Trainer"):
        self.t = trainer
        self._tensors: dict = {}
        self._indexed = None        # the group call that gathers its own batches (one replica here)
        self._train_chunk = self._build_train_chunk()
        self._eval_pass = self._build_eval_pass()

    def _build_train_chunk(self):
        tf, strategy, step = self.t.tf, self.t.strategy.tf, self.t.replica_step()
        width = self.t.sums_size

        def steps(batch, n):  # batch(i) -> step i's (x, y); the first n steps are real
            def body(i, sums):
                return i + 1, sums + step(*batch(i))

            return tf.while_loop(lambda i, _: i < n, body, (tf.constant(0), tf.zeros([width])))[1]

        alone = strategy is not tf.distribute.get_strategy() and strategy.num_replicas_in_sync == 1
        if strategy is tf.distribute.get_strategy() or alone:
            chunk = tf.function(lambda xs, ys, n: steps(lambda i: (xs[i], ys[i]), n), jit_compile=self.t.jit)
            if not alone:
                # In-memory data under one replica: each step gathers its batch inside the compiled
                # call from the split's tensors, so the input pipeline carries only indices.
                def indexed(x, y, idx, n):  # idx: [steps, batch] example indices
                    return steps(lambda i: _gather((x, y))(idx[i])[:2], n)

                self._indexed = tf.function(indexed, jit_compile=self.t.jit)

            if alone:
                # One replica in the whole cluster (MultiWorkerMirrored at one worker): nothing to
                # reduce, so the group runs outside strategy.run, as under the default strategy, in
                # one XLA call; the optimizer updates the mirrored variables' only copy.
                @tf.function
                def train_chunk_alone(xs, ys, n):
                    local = strategy.experimental_local_results
                    return chunk(local(xs)[0], local(ys)[0], local(n)[0])

                return train_chunk_alone

            @tf.function
            def train_chunk(xs, ys, n):
                return strategy.reduce("SUM", strategy.run(chunk, args=(xs, ys, n)), axis=None)

            return train_chunk

        # A tf.distribute strategy: apply_gradients synchronises replicas (merge_call), which TF
        # allows only at the top of the replica function, so the step loop is outside strategy.run.
        # Each step's sums stay on this process until the group ends, then are summed over processes
        # once: a reduction per step would add a second collective to every step.
        @tf.function
        def train_chunk_replicated(xs, ys, n):
            local = tf.zeros([width])
            for i in tf.range(strategy.experimental_local_results(n)[0]):
                per_replica = strategy.run(lambda a, b: step(a[i], b[i]), args=(xs, ys))
                local += tf.add_n(strategy.experimental_local_results(per_replica))
            here = float(len(strategy.experimental_local_results(n)))    # replicas in this process
            return strategy.reduce("SUM", strategy.run(lambda: local / here), axis=None)

        return train_chunk_replicated

    def _build_eval_pass(self):
        tf, strategy, step = self.t.tf, self.t.strategy.tf, self.t.eval_sums

        @tf.function
        def eval_pass(dist_ds):
            total = tf.zeros([self.t.sums_size])
            for x, y in dist_ds:
                total += strategy.reduce("SUM", strategy.run(step, args=(x, y)), axis=None)
            return total

        return eval_pass

    def _dataset(self, split, *, shuffle_seed: int | None, steps_per_element: int | None):
        """The distributed tf.data pipeline of a split; training yields (xs, ys, n): groups of
        `steps_per_element` per-replica batches, of which the first n are real.

        In memory, training sees the single-process global batches under every strategy: each
        input pipeline permutes the split's indices with the same seed (an exact shuffle of the
        whole split, whatever trainer.shuffle_buffer says), cuts them into global batches and
        gathers its replicas' slices, a whole group at once. Streamed, each input pipeline reads its
        own files (or every n-th example), shuffles with a buffer, and yields exactly
        steps_per_epoch batches (repeating its share if it is short), so collectives never wait on
        an empty worker. Evaluation data is sharded either way."""
        tf, gb, t = self.t.tf, self.t.global_batch, self.t
        external = t.strategy.shard
        tensors = self._tensors_of(split) if split.in_memory else None

        def dataset_fn(ctx):
            n, i = external or (ctx.num_input_pipelines, ctx.input_pipeline_id)
            rpp = 1 if external else ctx.num_replicas_in_sync // ctx.num_input_pipelines   # replicas per pipeline
            per_replica = gb // (n * rpp)
            if not steps_per_element:
                if split.in_memory:
                    ds = tf.data.Dataset.range(split.count).shard(n, i)
                    return _steady(ds.batch(per_replica * 16).map(_gather(tensors)).prefetch(2))
                return split.stream.batched(n, i, None, False, per_replica * 16).prefetch(tf.data.AUTOTUNE)
            if split.in_memory:
                first = i * rpp * per_replica
                idx, steps = group_indices(split.count, gb, steps_per_element, shuffle_seed, first, rpp, per_replica)
                ds = tf.data.Dataset.from_tensor_slices((idx, steps))
                return _steady(ds.map(_gather(tensors)).prefetch(2))
            ds = split.stream.batched(n, i, shuffle_seed, True, rpp * per_replica, buffer=t.cfg.shuffle_buffer)
            ds = ds.take(t.steps_per_epoch).batch(steps_per_element).map(_padder(steps_per_element))
            if rpp > 1:   # several replicas share these batches
                ds = _replica_slices(ds, rpp, per_replica)
            return ds.prefetch(tf.data.AUTOTUNE)

        return t.strategy.tf.distribute_datasets_from_function(dataset_fn)

    def _tensors_of(self, split):
        key = id(split.x)
        if key not in self._tensors:  # convert once: later epochs reuse the same tensors
            self._tensors[key] = (self.t.tf.convert_to_tensor(split.x), self.t.tf.convert_to_tensor(split.y))
        return self._tensors[key]

    def train_epoch(self, data, epoch: int) -> Iterator[tuple[int, np.ndarray]]:
        """Yields (steps done so far, sums of this call) after each call."""
        t, k = self.t, self.t.steps_per_call
        seed = t.cfg.seed * 1000 + epoch
        if self._indexed is not None and data.train.in_memory:
            calls = self._indexed_calls(data.train, seed)
        else:
            calls = ((self._train_chunk, args) for args in self._dataset(data.train, shuffle_seed=seed,
                                                                         steps_per_element=k))
        done = 0
        for call, args in calls:
            t.callbacks.on_train_batch_begin(done)
            sums = t.host_sums(call(*args))
            done = min(done + k, t.steps_per_epoch)
            yield done, sums

    def _indexed_calls(self, split, seed: int):
        """(call, args) of an in-memory epoch under one replica in this process: the same step
        groups as the tf.data pipeline would give (this process's columns of each global batch),
        without a pipeline: tf.data's threads, per-epoch graph rewrites and 10 MB gathered groups
        put one run's epochs in two speeds on two cores (docs/operations/benchmarks.md)."""
        t = self.t
        shards, index = t.strategy.shard or (1, 0)
        per_replica = t.global_batch // shards
        idx, real = group_indices(split.count, t.global_batch, t.steps_per_call, seed, index * per_replica, 1,
                                  per_replica)
        x, y = self._tensors_of(split)
        for g in range(len(real)):
            yield self._indexed, (x, y, t.tf.constant(idx[g]), t.tf.constant(real[g]))

    def evaluate(self, split) -> np.ndarray:
        return self.t.host_sums(self._eval_pass(self._dataset(split, shuffle_seed=None, steps_per_element=None)))


def group_indices(count: int, global_batch: int, k: int, seed: int | None, first: int, replicas: int,
                  per_replica: int) -> tuple[np.ndarray, np.ndarray]:
    """One epoch of step groups for one input pipeline: (indices [groups * replicas, k, per_replica],
    real steps per element). The split's indices are permuted with `seed` (None: in order), cut
    into global batches (the last partial one dropped) and each group of k steps gives each of the
    pipeline's `replicas` its columns [first + r * per_replica, +per_replica); the last group is
    padded with the epoch's first steps, repeated as often as needed (they never run)."""
    order = np.arange(count) if seed is None else np.random.default_rng(seed).permutation(count)
    steps = count // global_batch
    groups = -(-steps // k)
    batches = order[:steps * global_batch].reshape(steps, global_batch)
    pad = batches[np.arange(groups * k - steps) % steps]      # an epoch shorter than k steps repeats
    batches = np.concatenate([batches, pad]).reshape(groups, k, global_batch)
    cols = [batches[:, :, first + r * per_replica:first + (r + 1) * per_replica] for r in range(replicas)]
    idx = np.stack(cols, axis=1).reshape(groups * replicas, k, per_replica)
    real = np.repeat(np.minimum(k, steps - k * np.arange(groups)), replicas).astype(np.int32)
    return idx.astype(np.int32 if count < 2**31 else np.int64), real


def _steady(ds):
    """An in-memory pipeline without tf.data's autotuning and default graph rewrites: its gathers
    are a small share of a step, yet the autotuner's background work (and the rewrites it brings)
    put one run's epochs in two speeds on two cores, 0.8 s and 1.3 s in no fixed order; without it
    every epoch takes the fast one (docs/operations/benchmarks.md, "Steady epochs")."""
    import tensorflow as tf

    options = tf.data.Options()
    options.autotune.enabled = False
    options.experimental_optimization.apply_default_optimizations = False
    return ds.with_options(options)


def _gather(tensors):
    """Indices (any shape, then maybe the real step count) -> float32 features and labels."""
    import tensorflow as tf

    x, y = tensors

    def gather(idx, *rest):
        xs = tf.gather(x, idx)
        return (xs if xs.dtype == tf.float32 else tf.cast(xs, tf.float32), tf.gather(y, idx), *rest)

    return gather


def _padder(k: int):
    """(xs, ys) groups of up to k batches -> (xs, ys, n) padded to k batches (repeating the first)."""
    import tensorflow as tf

    def pad(xs, ys):
        n = tf.shape(xs)[0]
        reps = tf.concat([tf.range(n), tf.zeros([k - n], tf.int32)], 0)
        return (*tf.cond(n < k, lambda: (tf.gather(xs, reps), tf.gather(ys, reps)), lambda: (xs, ys)), n)

    return pad


def _replica_slices(ds, replicas: int, per_replica: int):
    """Streamed data: consecutive elements of a pipeline go to its consecutive replicas: emit each
    replica's slice [r * per_replica, +per_replica) of every group of batches, in replica order."""
    import tensorflow as tf

    def slices(bx, by, n):
        def take(r):
            lo = tf.cast(r, tf.int32) * per_replica
            return bx[:, lo:lo + per_replica], by[:, lo:lo + per_replica], n
        return tf.data.Dataset.range(replicas).map(take)

    return ds.flat_map(slices)


def use_xla(setting, model, gpus: bool) -> bool:
    """`trainer.jit_compile`: true or false as given; "auto" is XLA unless the model convolves on
    CPU: there XLA's convolutions (and their gradients) made model=cnn's epoch on 2,500 RGB images
    take 68 s instead of 1.1 s with TensorFlow's own kernels, while dense models gain from XLA."""
    if setting != "auto":
        return bool(setting)
    return gpus or not any("Conv" in type(layer).__name__ for layer in model._flatten_layers(include_self=False))


class Trainer:
    """Fits a Keras 3 model with any trainkit Strategy, one process or many."""

    def __init__(self, model, strategy, cfg, task, *, steps_per_epoch: int, sample: tuple, is_chief: bool = True,
                 checkpointer=None, callbacks: list | None = None, log: Callable[[str], None] = print):
        """`sample`: a few (x, y) training examples; metrics shape their state from them."""
        import keras
        import tensorflow as tf

        self.tf, self.keras = tf, keras
        self.model, self.strategy, self.cfg, self.task = model, strategy, cfg, task
        self.is_chief, self.ckpt, self.log = is_chief, checkpointer, log
        self.global_batch = cfg.batch_size
        self.steps_per_epoch = steps_per_epoch
        with strategy.tf.scope():
            self.optimizer = task.optimizer()
            self.optimizer.build(model.trainable_variables)
            strategy.prepare_optimizer(self.optimizer)   # MultiWorkerMirrored: a compressed all-reduce
            # compile() only attaches optimizer and loss so callbacks that read model.optimizer
            # (TensorBoard, ReduceLROnPlateau, ...) work; training never calls fit().
            model.compile(optimizer=self.optimizer, loss=task.loss)
        x, y = sample
        self.steps_per_call = self._bounded_steps_per_call(x, y)
        task.metrics.prepare(y, tf.cast(model(x, training=False), tf.float32))
        jit = use_xla(cfg.jit_compile, model, gpus=bool(tf.config.list_logical_devices("GPU")))
        if cfg.jit_compile == "auto" and not jit and is_chief:
            log("XLA off: this model convolves on CPU, where XLA's convolutions are slow "
                "(trainer.jit_compile=true forces it)")
        self.jit = jit and strategy.jit_steps                   # the whole step group
        self.jit_grads = jit and not strategy.jit_steps         # then each step's fwd+bwd
        if jit:
            from .rng import use_philox

            use_philox()   # XLA's default ThreeFry made dropout steps 5x slower (train/rng.py)
        self.sums_size = 2 + task.metrics.size          # [loss sum, count, metric state deltas...]
        self.callbacks = keras.callbacks.CallbackList(callbacks or [], model=model)
        self.steps = strategy.steps(self)

    def _bounded_steps_per_call(self, x, y) -> int:
        """trainer.steps_per_call within GROUP_BUDGET_BYTES for this global batch (said once when lowered)."""
        batch_bytes = self.global_batch * (np.asarray(x[0], np.float32).nbytes + np.asarray(y[0]).nbytes)
        k = steps_per_call_for(self.cfg.steps_per_call, batch_bytes)
        if k < self.cfg.steps_per_call and self.is_chief:
            self.log(f"steps per call: {k} instead of trainer.steps_per_call={self.cfg.steps_per_call}: a group of "
                     f"{self.cfg.steps_per_call} batches of {self.global_batch} examples would hold "
                     f"{self.cfg.steps_per_call * batch_bytes / 2**20:.0f} MB, over the {GROUP_BUDGET_BYTES >> 20} MB "
                     "an input pipeline element may take")
        return k

    # ---------------------------------------------------------------- steps
    def replica_step(self, jit_grads: bool | None = None):
        """One optimizer step on one replica's batch; returns its sums vector.

        When the whole step group cannot be XLA-compiled (collectives, replica synchronisation),
        the forward and backward pass still are: only the reduction and the update run outside."""
        tf, model, opt, task, gb = self.tf, self.model, self.optimizer, self.task, self.global_batch
        strategy = self.strategy

        def grads_and_sums(x, y):
            with tf.GradientTape() as tape:
                pred = tf.cast(model(x, training=True), tf.float32)
                per_example = tf.cast(task.loss(y, pred), tf.float32)
                loss = tf.nn.compute_average_loss(per_example, global_batch_size=gb)
                if model.losses:
                    loss += tf.nn.scale_regularization_loss(tf.add_n(model.losses))
                scaled = opt.scale_loss(loss) if task.loss_scaling else loss
            grads = tape.gradient(scaled, model.trainable_variables)
            return grads, self._sums(y, pred, per_example)

        if self.jit_grads if jit_grads is None else jit_grads:
            grads_and_sums = tf.function(grads_and_sums, jit_compile=True)

        def step(x, y):
            grads, sums = grads_and_sums(x, y)
            opt.apply_gradients(zip(strategy.transform_grads(grads), model.trainable_variables))
            return sums

        return step

    def _sums(self, y, pred, per_example):
        tf = self.tf
        count = tf.cast(tf.shape(per_example)[0], tf.float32)
        return tf.concat([tf.stack([tf.reduce_sum(per_example), count]), self.task.metrics.deltas(y, pred)], 0)

    def eval_sums(self, x, y):
        """The sums vector of one evaluation batch."""
        pred = self.tf.cast(self.model(x, training=False), self.tf.float32)
        return self._sums(y, pred, self.tf.cast(self.task.loss(y, pred), self.tf.float32))

    def steps_outside_replicas(self, step, xs, ys, n):
        """Run steps 0..n-1 of a step group, one `strategy.run` each; the summed sums vector."""
        tf, strategy = self.tf, self.strategy.tf
        total = tf.zeros([self.sums_size])
        for i in tf.range(n):
            total += strategy.reduce("SUM", strategy.run(lambda a, b: step(a[i], b[i]), args=(xs, ys)), axis=None)
        return total

    def host_sums(self, sums) -> np.ndarray:
        """A sums tensor as float64 numpy, summed over processes TF does not know of."""
        return np.asarray(self.strategy.reduce_sums(sums), dtype=np.float64)

    def logs_from(self, sums: np.ndarray, prefix: str = "") -> dict:
        """{loss, metric...} (with a prefix such as val_) from a sums vector."""
        n = max(sums[1], 1.0)
        return {f"{prefix}loss": float(sums[0] / n),
                **{f"{prefix}{k}": v for k, v in self.task.metrics.results(sums[2:]).items()}}

    def evaluate(self, split) -> dict:
        sums = self.steps.evaluate(split)
        return {**self.logs_from(sums), "count": int(sums[1])}

    # ---------------------------------------------------------------- fit
    def fit(self, data, on_epoch: Callable[[dict], None] | None = None) -> TrainResult:
        """Train on data.train (a trainkit.data.load.Data), validate on data.val, test on data.test."""
        cfg, epochs = self.cfg, self.cfg.epochs
        if self.steps_per_epoch == 0:
            raise TrainkitError(f"trainer.batch_size: expected at most the {data.train.count} training examples "
                                f"(one global batch per step), got {self.global_batch}")
        result = TrainResult(steps_per_call=self.steps_per_call)
        ckpt_vars = self.checkpoint_variables()
        state = self.ckpt.restore(ckpt_vars) if self.ckpt else None
        if state:
            result.start_epoch, result.history = state["epoch"], list(state["history"])
            self.log(f"resumed from checkpoint: epoch {state['epoch']} complete, continuing at "
                     f"epoch {state['epoch'] + 1}/{epochs}")
        self.strategy.sync_initial_state(ckpt_vars)   # Horovod: rank 0's weights and optimizer slots
        self.callbacks.on_train_begin()
        self.model.stop_training = False
        for epoch in range(result.start_epoch, epochs):
            t0 = time.perf_counter()
            self.callbacks.on_epoch_begin(epoch)
            total = np.zeros(self.sums_size)
            for done, sums in self.steps.train_epoch(data, epoch):
                total += sums
                self.callbacks.on_train_batch_end(done - 1, self.logs_from(total))
                if self.is_chief:
                    emit_progress(epoch=epoch + 1, epochs=epochs, step=done, steps=self.steps_per_epoch)
            logs = {"epoch": epoch + 1, **self.logs_from(total),
                    "learning_rate": float(self.optimizer.learning_rate)}   # where the schedule is now
            if data.val.count:
                logs.update(self.logs_from(self.steps.evaluate(data.val), "val_"))
            logs["epoch_time_s"] = time.perf_counter() - t0
            self.callbacks.on_epoch_end(epoch, dict(logs))
            result.history.append(logs)
            if self.ckpt and self.is_chief and ((epoch + 1) % cfg.checkpoint.every_epochs == 0 or epoch + 1 == epochs):
                self.ckpt.save(epoch + 1, ckpt_vars, result.history)
            if on_epoch:
                on_epoch(logs)
            self.log(format_epoch(logs, epochs))
            if self.model.stop_training:
                result.stopped_early = True
                break
        self.callbacks.on_train_end({"epochs": len(result.history)})
        result.test = self.evaluate(data.test)
        return result

    def checkpoint_variables(self) -> list:
        return list(self.model.variables) + list(self.optimizer.variables)


def format_epoch(logs: dict, epochs: int) -> str:
    parts = [f"epoch {logs['epoch']}/{epochs}"]
    parts += [f"{k}={v:.3g}" if k == "learning_rate" else f"{k}={v:.4f}" for k, v in logs.items()
              if k not in ("epoch", "epoch_time_s") and isinstance(v, (int, float))]
    parts.append(f"({logs['epoch_time_s']:.2f}s)")
    return " ".join(parts)
