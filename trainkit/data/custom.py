"""`format: custom`: your own `dataset.loader` reads the verified, cached files (see CustomFormat)."""
from __future__ import annotations

import numpy as np

from ..errors import DataError
from .splits import Data, Split


def _split(value, role: str, loader: str) -> Split:
    import tensorflow as tf

    if isinstance(value, tf.data.Dataset):
        n = int(value.cardinality())
        if n < 0:   # unknown or infinite: count once
            n = int(value.reduce(np.int64(0), lambda c, _: c + 1))
        return Split(n, stream=_DatasetStream(value))
    try:
        x, y = value
    except (TypeError, ValueError):
        raise DataError(f"dataset.loader {loader}: {role!r}: expected (x, y) arrays or a tf.data.Dataset of (x, y), "
                        f"got {type(value).__name__}") from None
    x, y = np.asarray(x), np.asarray(y)
    if len(x) != len(y):
        raise DataError(f"dataset.loader {loader}: {role!r}: expected as many labels as examples, got {len(x)} and {len(y)}")
    return Split(len(x), x, y)


class _DatasetStream:
    """A loader's tf.data.Dataset; input pipelines take every n-th example."""

    def __init__(self, dataset):
        self.dataset = dataset

    def batched(self, shards: int, index: int, seed, repeat: bool, batch: int, buffer: int = 0):
        ds = self.dataset.shard(shards, index) if shards > 1 else self.dataset
        if repeat:
            ds = ds.repeat()
        if seed is not None:
            ds = ds.shuffle(buffer or 10_000, seed=seed)
        return ds.batch(batch, drop_remainder=repeat)


def load_custom(ds, dv) -> Data:
    from ..targets import import_object

    files = {role: [m["path"] for m in members] for role, members in dv.files.items()}
    out = import_object(ds.loader)(files=files, **ds.loader_args)
    if not isinstance(out, dict) or not {"train", "test"} <= set(out):
        raise DataError(f"dataset.loader {ds.loader}: expected a dict with 'train' and 'test' (and 'validation'), "
                        f"got {type(out).__name__} {sorted(out) if isinstance(out, dict) else ''}")
    splits = {role: _split(out[role], role, ds.loader) for role in ("train", "test", "validation") if role in out}
    val = splits.get("validation") or Split(0, np.zeros((0, *np.shape(splits["train"].x)[1:]), np.float32), np.zeros(0))
    first = splits["train"].arrays(1)[0] if splits["train"].stream else splits["train"].x
    streaming = any(not s.in_memory for s in splits.values())
    return Data(splits["train"], val, splits["test"], list(np.shape(first)[1:]), ds.num_classes, streaming,
                dv.name, dv.version)
