"""Parameter-server steps: the chief schedules groups of steps through a ClusterCoordinator on
whichever worker is free; each worker reads its own dataset iterator, variables live on the ps
tasks. Evaluation runs on the chief with plain batches (variables are read from the ps)."""
from __future__ import annotations

from typing import Iterator

import numpy as np


class CoordinatedSteps:
    def __init__(self, trainer):
        import tensorflow as tf

        self.t = trainer
        self.coordinator = tf.distribute.coordinator.ClusterCoordinator(trainer.strategy.tf)
        step = trainer.replica_step(jit_grads=False)   # steps on ps variables run without XLA

        @tf.function
        def worker_fn(iterator):
            xs, ys = next(iterator)
            return trainer.steps_outside_replicas(step, xs, ys, tf.shape(xs)[0])

        self._worker_fn = worker_fn
        self._eval_batch = tf.function(trainer.eval_sums)
        self._iterator = None

    def _per_worker_iterator(self, split):
        """Each worker's own endless, shuffled stream of step groups. Streamed data: each worker
        reads its own files. In memory: the split travels inside the dataset function (pixels as
        uint8 when they are whole numbers in 0..255, 4x smaller than float32)."""
        import tensorflow as tf

        gb, k = self.t.global_batch, self.t.steps_per_call
        if not split.in_memory:
            def from_files(ctx):   # traced once here, run by every worker: each reads the files in its own order
                ds = split.stream.batched(1, 0, None, True, gb, buffer=self.t.cfg.shuffle_buffer, unseeded=True)
                return ds.batch(k, drop_remainder=True).prefetch(2)

            strategy = self.t.strategy.tf
            return iter(self.coordinator.create_per_worker_dataset(
                lambda: strategy.distribute_datasets_from_function(from_files)))
        x, y = split.x, split.y
        small = x.dtype != np.uint8 and x.size and x.min() >= 0 and x.max() <= 255 and np.all(x == np.round(x))
        x_send = x.astype(np.uint8) if small else x
        buf = self.t.cfg.shuffle_buffer or len(y)

        def dataset_fn():
            ds = tf.data.Dataset.from_tensor_slices((x_send, y)).shuffle(buf).repeat()
            ds = ds.map(lambda a, b: (tf.cast(a, tf.float32), b))
            return ds.batch(gb, drop_remainder=True).batch(k, drop_remainder=True).prefetch(2)

        return iter(self.coordinator.create_per_worker_dataset(dataset_fn))

    def train_epoch(self, data, epoch: int) -> Iterator[tuple[int, np.ndarray]]:
        """Schedule one epoch's worth of step groups, wait for all, yield their sums once."""
        if self._iterator is None:
            self._iterator = self._per_worker_iterator(data.train)
        k = self.t.steps_per_call
        calls = -(-self.t.steps_per_epoch // k)
        results = [self.coordinator.schedule(self._worker_fn, args=(self._iterator,)) for _ in range(calls)]
        self.coordinator.join()
        yield self.t.steps_per_epoch, np.sum([r.fetch() for r in results], axis=0)

    def evaluate(self, split) -> np.ndarray:
        import tensorflow as tf

        batches = (tf.data.Dataset.from_tensor_slices((split.x, split.y)).batch(1024) if split.in_memory
                   else split.stream.batched(1, 0, None, False, 1024))
        total = np.zeros(self.t.sums_size)
        for x, y in batches:
            total += np.asarray(self._eval_batch(tf.cast(x, tf.float32), y), dtype=np.float64)
        return total
