"""The worker's view of a registered dataset: train / validation / test splits, each in memory or
streamed from the cached files with tf.data (`dataset.in_memory: auto|true|false`).

Which split an example belongs to is a pure function of its index in the train role (files in
their fixed order): `limit_train` keeps the first N, `validation_size` takes the last ones, and
fractions (`validation_fraction`, `test_fraction` when there are no such files) pick by a seeded
hash of the index. So the same examples land in the same split whether read whole or streamed."""
from __future__ import annotations

import os

import numpy as np

from ..errors import DataError
from .splits import Data, Selection, Split, Stream

def selections(ds, roles: set[str], n_train: int) -> dict[str, tuple[str, Selection]]:
    """split -> (role it comes from, which of that role's examples)."""
    limit = min(n_train, ds.limit_train or n_train)
    test_frac = 0.0 if "test" in roles else ds.test_fraction
    seed = ds.split_seed
    out = {"test": ("test", Selection(stop=ds.limit_test)) if "test" in roles else
           ("train", Selection(stop=limit, lo=0.0, hi=test_frac, seed=seed))}
    if "validation" in roles:
        out["val"] = ("validation", Selection())
        out["train"] = ("train", Selection(stop=limit, lo=test_frac, seed=seed))
    elif ds.validation_size is not None:
        cut = max(limit - ds.validation_size, 0)
        out["val"] = ("train", Selection(start=cut, stop=limit, lo=test_frac, seed=seed))
        out["train"] = ("train", Selection(stop=cut, lo=test_frac, seed=seed))
    else:
        val_hi = test_frac + ds.validation_fraction
        out["val"] = ("train", Selection(stop=limit, lo=test_frac, hi=val_hi, seed=seed))
        out["train"] = ("train", Selection(stop=limit, lo=val_hi, seed=seed))
    return out


def should_stream(ds, fmt, info: dict, local_size: int = 1) -> bool:
    """dataset.in_memory: true/false, or auto: stream when the decoded examples would take more
    than memory_fraction of this host's memory (shared by the job's processes on it)."""
    setting = str(ds.in_memory).lower()
    if setting in ("true", "false"):
        return setting == "false"
    if not fmt.streams:
        return False
    total = sum(info.get("records", {}).values())
    ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    return fmt.decoded_bytes(info, total) > ds.memory_fraction * ram / max(local_size, 1)


STREAMING = "tfrecord, csv, parquet and image_folder"
WHOLE_COPIES = 2   # a split selection copies the loaded examples once more


def available_memory() -> int:
    """Bytes this machine can still give (MemAvailable), the seam the unit tests replace."""
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES")


def check_fits(ds, fmt, info: dict, local_size: int) -> None:
    """Data read whole must fit this machine's available memory (shared by the job's processes
    on it), or the kernel kills the worker: refuse it before allocating, saying what streams."""
    total = sum(info.get("records", {}).values())
    need = WHOLE_COPIES * fmt.decoded_bytes(info, total)
    room = available_memory() // max(local_size, 1)
    if need <= room:
        return
    how = (f"format={fmt.name} is read whole and cannot stream; the formats that stream are {STREAMING} "
           "(convert the data)" if not fmt.streams else
           "set dataset.in_memory=auto or false to stream it from the cached files")
    raise DataError(f"dataset {ds.name}: {total} examples need ~{need / 1e9:.1f} GB in memory ({WHOLE_COPIES} copies "
                    f"of {fmt.decoded_bytes(info, total) / 1e9:.1f} GB of float32), this machine has "
                    f"{room / 1e9:.1f} GB available{' per process' if local_size > 1 else ''}: {how}")


def load_data(ds, version: dict, local_size: int = 1) -> Data:
    """The dataset version `version` (the registered JSON) as train / val / test splits."""
    from .datasets import DatasetVersion

    dv = DatasetVersion.from_json(version)
    fmt = ds.fmt
    if fmt.loads_splits:   # your own loader returns the splits
        return fmt.load_splits(ds, dv)
    info = dv.info
    streaming = should_stream(ds, fmt, info, local_size)
    if not streaming:
        check_fits(ds, fmt, info, local_size)
    roles = fmt.split_roles(set(dv.files))
    if "train" not in roles:
        raise DataError(f"dataset {ds.name}: expected files with role 'train', got roles {sorted(dv.files)}")
    counts = info["records"]
    sel = selections(ds, roles, counts["train"])
    source = _streams(fmt, ds, dv, info) if streaming else fmt.split_arrays(dv.files, ds, info)
    splits = {name: _split(source[role], selection, streaming) for name, (role, selection) in sel.items()}
    return Data(splits["train"], splits["val"], splits["test"], list(info["input_shape"]),
                ds.num_classes if ds.num_classes is not None else info.get("num_classes"), streaming, dv.name, dv.version)


def _split(source, selection: Selection, streaming: bool) -> Split:
    if streaming:
        stream = Stream(**{**source.__dict__, "selection": selection})
        n = int(selection.mask(np.arange(sum(stream.counts))).sum())
        return Split(n, stream=stream)
    x, y = source
    keep = selection.mask(np.arange(len(x)))
    return Split(int(keep.sum()), x[keep], y[keep])


def _streams(fmt, ds, dv, info: dict) -> dict[str, Stream]:
    """role -> Stream over the role's files in their registered order."""
    example_bytes = fmt.stored_bytes(ds, info) * int(np.prod(info["input_shape"]))
    out = {}
    for role, members in dv.files.items():
        if fmt.whole_entry:
            items = fmt.items(members, info)
            files, counts, labels = [p for p, _ in items], [1] * len(items), [lab for _, lab in items]
        else:
            files, counts, labels = [m["path"] for m in members], [m["info"]["records"] for m in members], [-1] * len(members)
        out[role] = Stream(fmt, ds, info, files, counts, labels, example_bytes=example_bytes)
    return out
