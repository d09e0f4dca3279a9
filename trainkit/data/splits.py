"""The worker's view of a dataset version: train / validation / test splits, each in memory
(arrays) or streamed from the cached files with tf.data (a Stream over a role's files). Which
examples a split holds is a Selection: a pure function of each example's index in its role."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

STREAM_PARALLEL = 2             # parallel parse/decode calls of a streamed pipeline (fixed: AUTOTUNE grows its buffers)
STREAM_BUFFER = 10_000          # examples permuted together when streaming (trainer.shuffle_buffer=0)
STREAM_BUFFER_BYTES = 64e6      # ... or fewer, for big examples (bytes as stored: uint8 images stay uint8)
STREAM_RAM_BUDGET = 128 << 20   # tf.data autotune's memory budget for a streamed pipeline (its default: half of RAM)


def bounded(ds):
    """A streamed pipeline whose buffers cannot grow with the length of the run: tf.data's autotuner
    otherwise enlarges prefetch and parallelism buffers for as long as the consumer is slower (the
    600k-image run held ~500 MB more than the 60k one, for the same data per batch)."""
    import tensorflow as tf

    options = tf.data.Options()
    options.autotune.ram_budget = STREAM_RAM_BUDGET
    return ds.with_options(options)


@dataclass(frozen=True)
class Selection:
    """Indices in [start, stop) whose hash lies in [lo, hi)."""

    start: int = 0
    stop: int | None = None
    lo: float = 0.0
    hi: float = 1.0
    seed: int = 0

    def hash(self, idx):
        return ((idx * 2654435761 + self.seed * 40503 + 12345) % (1 << 32)) / float(1 << 32)

    def mask(self, idx: np.ndarray) -> np.ndarray:
        keep = idx >= self.start
        if self.stop is not None:
            keep &= idx < self.stop
        if (self.lo, self.hi) != (0.0, 1.0):
            h = self.hash(idx.astype(np.int64))
            keep &= (h >= self.lo) & (h < self.hi)
        return keep

    def tf_keep(self, idx):
        import tensorflow as tf

        keep = idx >= self.start
        if self.stop is not None:
            keep = tf.logical_and(keep, idx < self.stop)
        if (self.lo, self.hi) != (0.0, 1.0):
            h = tf.cast(tf.math.floormod(idx * 2654435761 + self.seed * 40503 + 12345, 1 << 32), tf.float64) / float(1 << 32)
            keep = tf.logical_and(keep, tf.logical_and(h >= self.lo, h < self.hi))
        return keep


@dataclass
class Stream:
    """A role's files read through tf.data: global index = the file's offset + position in it."""

    fmt: Any
    ds: Any                   # DatasetConfig
    info: dict
    files: list[str]
    counts: list[int]
    labels: list[int]         # per file (image folders: each file is one example), else -1
    selection: Selection = field(default_factory=Selection)
    example_bytes: int = 4
    _told: bool = False

    def selected(self) -> np.ndarray:
        """How many of each file's examples this split selects."""
        offsets = np.concatenate([[0], np.cumsum(self.counts)[:-1]]).astype(np.int64)
        return np.array([self.selection.mask(np.arange(o, o + c)).sum() for o, c in zip(offsets, self.counts)])

    def batched(self, shards: int, index: int, seed: int | None, repeat: bool, batch: int, buffer: int = 0,
                unseeded: bool = False):
        """This input pipeline's (x, y) batches: its own files (every `shards`-th of the files that
        hold selected examples, in a per-epoch seeded order), or, when that would leave some
        pipeline short (fewer files than pipelines, a `limit_train` inside one file), every
        `shards`-th example. With a seed, blocks of `buffer` examples (default 10k, fewer for big
        examples) are permuted at random: a block shuffle, whole tensors at a time (tf.data's
        per-example cost would dominate). `unseeded`: a random order of its own for each process
        that runs the dataset (parameter-server workers, whose dataset function is traced once)."""
        import tensorflow as tf

        offsets = np.concatenate([[0], np.cumsum(self.counts)[:-1]]).astype(np.int64)
        selected = self.selected()
        order = np.arange(len(self.files)) if seed is None else np.random.default_rng(seed).permutation(len(self.files))
        active = np.array([i for i in order if selected[i] > 0], dtype=np.int64)
        shares = [selected[active[k::shards]].sum() for k in range(shards)]
        by_file = len(active) >= shards and min(shares) >= 0.5 * sum(shares) / shards
        mine = active[index::shards] if by_file else active
        if seed is not None and not self._told:   # once per process: which files this pipeline trains on
            self._told = True
            names = [Path(self.files[i]).name for i in sorted(mine)]
            listed = f"files [{', '.join(names)}]" if len(names) <= 64 else f"{len(names)} files"
            share = f"{len(mine)} of" if by_file else f"one example in {shards} of the"
            print(f"input pipeline {index}/{shards}: {share} {len(self.files)} {listed}", flush=True)
        items = tf.data.Dataset.from_tensor_slices((np.array(self.files)[mine], offsets[mine],
                                                    np.array(self.labels, dtype=np.int32)[mine]))
        if unseeded:
            items = items.shuffle(max(len(mine), 1))

        def select(i, x, y):
            keep = self.selection.tf_keep(i)
            if not by_file:
                keep = tf.logical_and(keep, tf.equal(tf.math.floormod(i, shards), index))
            return tf.boolean_mask(x, keep), tf.boolean_mask(y, keep)

        out = self.fmt.batches(items, self.ds, self.info).map(select, num_parallel_calls=STREAM_PARALLEL)
        if repeat:
            out = out.repeat()
        if seed is not None or unseeded:
            size = buffer or max(1024, min(STREAM_BUFFER, int(STREAM_BUFFER_BYTES / max(self.example_bytes, 1))))
            out = out.rebatch(size).enumerate().map(lambda j, xy: _permute(xy, seed, j))
        out = out.rebatch(batch, drop_remainder=repeat).map(_as_float32)   # stored dtype until here: 4x less held
        return bounded(out)


def _as_float32(x, y):
    import tensorflow as tf

    return (x if x.dtype == tf.float32 else tf.cast(x, tf.float32)), y


def _permute(xy, seed: int | None, block):
    """One block of examples in a random order drawn from (seed, block number), or unseeded."""
    import tensorflow as tf

    x, y = xy
    noise = tf.random.uniform([tf.shape(y)[0]]) if seed is None else \
        tf.random.stateless_uniform([tf.shape(y)[0]], seed=tf.stack([tf.constant(seed, tf.int64), block]))
    order = tf.argsort(noise)
    return tf.gather(x, order), tf.gather(y, order)


@dataclass
class Split:
    """One split's examples: arrays (x may stay uint8; the pipeline casts) or a Stream."""

    count: int
    x: np.ndarray | None = None
    y: np.ndarray | None = None
    stream: Stream | None = None

    @property
    def in_memory(self) -> bool:
        return self.stream is None

    def arrays(self, limit: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The first `limit` (or all) examples as float32 features and labels."""
        if self.in_memory:
            return self.x[:limit].astype(np.float32), self.y[:limit]
        xs, ys = [], []
        for x, y in self.stream.batched(1, 0, None, False, 1024).take(-(-(limit or self.count) // 1024)):
            xs.append(x.numpy())
            ys.append(y.numpy())
        x, y = np.concatenate(xs)[:limit], np.concatenate(ys)[:limit]
        return x.astype(np.float32), y


@dataclass
class Data:
    train: Split
    val: Split
    test: Split
    input_shape: list[int]
    num_classes: int | None
    streaming: bool
    name: str = ""
    version: int = 0

    def describe(self) -> str:
        how = "streamed from files" if self.streaming else "in memory"
        return (f"data: {self.name} v{self.version} train={self.train.count} val={self.val.count} "
                f"test={self.test.count} ({how})")
