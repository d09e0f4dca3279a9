"""Dataset formats by name (`dataset.format`). A format knows its roles and config keys, verifies a
fetched file before it is cached (launcher side: streaming, no TensorFlow), and reads a role's
files on the worker, whole (`arrays`) or, for formats that can stream, through tf.data (`records`).

Every reader yields raw examples: the model does its own scaling, so exports take raw inputs."""
from __future__ import annotations

from importlib import import_module
from pathlib import Path

import numpy as np

FORMATS = {
    "idx": "trainkit.data.idx:IdxFormat",
    "npz": "trainkit.data.tabular:NpzFormat",
    "csv": "trainkit.data.tabular:CsvFormat",
    "parquet": "trainkit.data.tabular:ParquetFormat",
    "image_folder": "trainkit.data.images:ImageFolderFormat",
    "tfrecord": "trainkit.data.tfrecord:TfrecordFormat",
    "custom": "trainkit.data.formats:CustomFormat",
}


def get_format(name: str) -> "Format":
    module, _, cls = FORMATS[name].partition(":")
    return getattr(import_module(module), cls)()


class Format:
    """The interface, with defaults for one-file-per-role formats whose examples are rows."""

    name = ""
    roles = ("train", "validation", "test")   # roles a file entry may have
    streams = False                             # can train from its files without loading them whole
    whole_entry = False                         # verify()/read a directory entry as one unit (image folders)
    needs_sources = True                        # its files are fetched from dataset.sources
    role_splits = True                          # files have train/validation/test roles (a train file is required)
    knows_classes = False                       # tells the number of classes itself (image folders: one per folder)
    loads_splits = False                        # reads its splits itself (`load_splits`), not through trainkit's readers

    def split_roles(self, roles: set[str]) -> set[str]:
        """The train/validation/test roles present, from the roles of the registered files."""
        return roles

    def check(self, ds: dict) -> list[str]:
        """Problems with this format's own dataset keys (compose time, plain dict)."""
        return []

    def verify(self, path: Path, role: str, ds) -> dict:
        """Check one fetched file (raises DataError naming it); returns at least {"records": n}."""
        return {"records": 0}

    def combine(self, members: dict[str, list[dict]], ds) -> dict:
        """Dataset-level facts from every member's verify() info (e.g. columns, classes)."""
        return {}

    def arrays(self, members: list[dict], ds, info: dict) -> tuple[np.ndarray, np.ndarray]:
        """One role's examples in memory: (x, y)."""
        raise NotImplementedError

    def split_arrays(self, files: dict[str, list[dict]], ds, info: dict) -> dict[str, tuple]:
        """role -> (x, y) for every role present."""
        return {role: self.arrays(members, ds, info) for role, members in files.items()}

    def file_batches(self, path, offset, ds, info: dict):
        """Streaming formats: one file's examples as batches (index, x, y), index = offset + the
        example's position in the file. Batched, because tf.data's per-example cost dominates."""
        raise NotImplementedError

    def batches(self, items, ds, info: dict):
        """(index, x, y) batches from a dataset of (path, index offset, label) items: a few files
        read at once, in a deterministic order (one after the other: parallel interleave buffers grew
        with the number of files)."""
        return items.interleave(lambda path, offset, label: self.file_batches(path, offset, ds, info), cycle_length=4)

    def stored_bytes(self, ds, info: dict) -> int:
        """Bytes per input value while streamed, before the last cast to float32."""
        return 4

    def decoded_bytes(self, info: dict, records: int) -> int:
        """Memory the examples take decoded (float32 features), for in_memory=auto."""
        return records * 4 * int(np.prod(info.get("input_shape") or [1]))


class CustomFormat(Format):
    """`format: custom`: the files are fetched and verified by checksum only; `dataset.loader`
    ("module:function", in your project) reads them on the worker. It is called as
    `loader(files, **loader_args)` with files = {role: [local paths]} and returns
    {"train": ..., "test": ..., ["validation": ...]}, each (x, y) arrays or a tf.data.Dataset of
    (x, y) examples."""

    name = "custom"
    roles = ("train", "validation", "test", "data")
    needs_sources = role_splits = False
    knows_classes = loads_splits = True

    def load_splits(self, ds, dv):
        from .custom import load_custom

        return load_custom(ds, dv)

    def check(self, ds: dict) -> list[str]:
        from ..targets import check_call

        if not ds.get("loader"):
            return ["dataset.loader: expected 'module:function' for format=custom, got None"]
        return check_call("dataset.loader_args", ds["loader"], ds.get("loader_args") or {},
                          provided={"files"}, target_key="dataset.loader")

    def verify(self, path: Path, role: str, ds) -> dict:
        return {"records": None}
