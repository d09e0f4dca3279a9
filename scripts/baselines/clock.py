"""A Keras callback the benchmarks add to both trainkit and the plain script: it appends wall-clock
times (time.time()) of the first training step and of each epoch to $BENCH_CLOCK as JSON lines.
trainkit calls on_train_batch_begin/end once per fused call of steps_per_call steps, so
`first_step_end` is when the first call (the first steps, tracing and compilation included) returned."""
import json
import os
import time

import keras


class Clock(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.path, self.started, self.t0 = os.environ["BENCH_CLOCK"], False, 0.0

    def _write(self, **event):
        with open(self.path, "a") as f:
            f.write(json.dumps(event) + "\n")

    def on_train_batch_begin(self, batch, logs=None):
        if not self.started:
            self._write(event="first_step_begin", t=time.time())

    def on_train_batch_end(self, batch, logs=None):
        if not self.started:
            self.started = True
            self._write(event="first_step_end", t=time.time())

    def on_epoch_begin(self, epoch, logs=None):
        self.t0 = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self._write(event="epoch", epoch=epoch + 1, seconds=time.perf_counter() - self.t0)
