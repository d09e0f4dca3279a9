"""The MNIST IDX format (gzip, magic, dimensions, exact length, label range): a strict reader, a
streaming verifier that never holds a file in memory (a gzip bomb stops at the length its header
declares), and the `idx` dataset format (roles train_images, train_labels, test_images, test_labels)."""
from __future__ import annotations

import gzip
import zlib
from pathlib import Path

import numpy as np

from ..errors import DataFormatError
from .formats import Format

MAGIC = {"images": 0x00000803, "labels": 0x00000801}  # 0x08 = uint8, then the number of dims
NDIM = {"images": 3, "labels": 1}


def gunzip(raw: bytes, path: str) -> bytes:
    """Decompress gzip bytes; a broken or truncated stream is a DataFormatError naming `path`."""
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as e:
        raise DataFormatError(path, "gzip stream", "a complete gzip stream", f"{type(e).__name__}: {e}") from None


def read_bytes(path: str | Path) -> bytes:
    """The file's IDX bytes, gunzipped when its name ends in .gz."""
    path = str(path)
    raw = Path(path).read_bytes()
    return gunzip(raw, path) if path.endswith(".gz") else raw


def parse_idx(data: bytes, kind: str, path: str = "<bytes>",
              image_shape: tuple[int, ...] | None = (28, 28), num_classes: int | None = None) -> np.ndarray:
    """Parse IDX bytes of `kind` 'images' or 'labels' into a uint8 array, checking everything."""
    ndim = NDIM[kind]
    if len(data) < 4:
        raise DataFormatError(path, "header", "at least 4 bytes", f"{len(data)} bytes")
    magic = int.from_bytes(data[:4], "big")
    if magic != MAGIC[kind]:
        raise DataFormatError(path, "magic number", f"0x{MAGIC[kind]:08x} ({kind})", f"0x{magic:08x}")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DataFormatError(path, "header", f"{header} bytes", f"{len(data)} bytes")
    dims = tuple(int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    if kind == "images" and image_shape is not None and dims[1:] != tuple(image_shape):
        raise DataFormatError(path, "image dimensions", "x".join(map(str, image_shape)),
                              "x".join(map(str, dims[1:])))
    expected_len = header + int(np.prod(dims))
    if len(data) != expected_len:
        raise DataFormatError(path, "byte length", f"{expected_len} bytes for dims {dims}", f"{len(data)} bytes")
    array = np.frombuffer(data, dtype=np.uint8, offset=header).reshape(dims)
    if kind == "labels" and num_classes is not None and array.size and int(array.max()) >= num_classes:
        bad = int(np.argmax(array >= num_classes))
        raise DataFormatError(path, f"label at index {bad}", f"a class in [0, {num_classes})", int(array[bad]))
    return array


def read_idx(path: str | Path, kind: str, **kw) -> np.ndarray:
    return parse_idx(read_bytes(path), kind, str(path), **kw)


def load_split(images_path: str | Path, labels_path: str | Path, num_classes: int,
               image_shape: tuple[int, ...] = (28, 28)) -> tuple[np.ndarray, np.ndarray]:
    """Read an images/labels pair and check that their counts agree."""
    x = read_idx(images_path, "images", image_shape=image_shape)
    y = read_idx(labels_path, "labels", num_classes=num_classes)
    if len(x) != len(y):
        raise DataFormatError(str(labels_path), "label count", f"{len(x)} (as in {images_path})", len(y))
    return x, y


def _content(path: Path, max_bytes: int):
    from .fetch import CHUNK, gunzip_chunks, is_gzip

    if is_gzip(path):
        yield from gunzip_chunks(path, max_bytes)
        return
    with open(path, "rb") as f:
        while block := f.read(CHUNK):
            yield block


def verify_stream(path: Path, kind: str, num_classes: int | None, max_bytes: int) -> dict:
    """Check an IDX file's header, exact length and label range while streaming it; returns
    {"records": n, "shape": [...]} (the shape of one example)."""
    ndim = NDIM[kind]
    header = 4 + 4 * ndim
    head, body, dims, expected = b"", 0, None, 0
    for block in _content(path, max_bytes):
        if dims is None:
            head += block
            if len(head) < header:
                continue
            magic = int.from_bytes(head[:4], "big")
            if magic != MAGIC[kind]:
                raise DataFormatError(str(path), "magic number", f"0x{MAGIC[kind]:08x} ({kind})", f"0x{magic:08x}")
            dims = tuple(int.from_bytes(head[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
            expected = int(np.prod(dims))
            block = head[header:]
        if body + len(block) > expected:
            raise DataFormatError(str(path), "byte length", f"{header + expected} bytes for dims {dims}",
                                  "more (stopped reading there)")
        if kind == "labels" and num_classes is not None and block:
            labels = np.frombuffer(block, dtype=np.uint8)
            bad = np.flatnonzero(labels >= num_classes)
            if bad.size:
                raise DataFormatError(str(path), f"label at index {body + int(bad[0])}", f"a class in [0, {num_classes})",
                                      int(labels[bad[0]]))
        body += len(block)
    if dims is None:
        raise DataFormatError(str(path), "header", f"at least {header} bytes", f"{len(head)} bytes")
    if body != expected:
        raise DataFormatError(str(path), "byte length", f"{header + expected} bytes for dims {dims}", f"{header + body} bytes")
    return {"records": dims[0], "shape": list(dims[1:])}


class IdxFormat(Format):
    """MNIST-format files: one images and one labels file per split."""

    name = "idx"
    role_splits = False   # roles are train_images / train_labels / test_images / test_labels

    def split_roles(self, roles: set[str]) -> set[str]:
        return {"train", "test"}
    roles = ("train_images", "train_labels", "test_images", "test_labels")

    def check(self, ds: dict) -> list[str]:
        roles = [f.get("role") for f in ds["files"]]
        if sorted(roles) != sorted(self.roles):
            return [f"dataset.files: expected one file for each role {list(self.roles)}, got roles {roles}"]
        return []

    def verify(self, path: Path, role: str, ds) -> dict:
        kind = "images" if role.endswith("images") else "labels"
        return verify_stream(path, kind, ds.num_classes, int(ds.max_file_mb * 1e6))

    def combine(self, members: dict[str, list[dict]], ds) -> dict:
        from ..errors import DataFormatError as Bad

        info = {r: m[0]["info"] for r, m in members.items()}
        for split in ("train", "test"):
            n_img, n_lab = info[f"{split}_images"]["records"], info[f"{split}_labels"]["records"]
            if n_img != n_lab:
                raise Bad(members[f"{split}_labels"][0]["path"], "label count", f"{n_img} (as in the images file)", n_lab)
        if info["train_images"]["shape"] != info["test_images"]["shape"]:
            raise Bad(members["test_images"][0]["path"], "image dimensions",
                      "x".join(map(str, info["train_images"]["shape"])), "x".join(map(str, info["test_images"]["shape"])))
        return {"input_shape": info["train_images"]["shape"],
                "records": {"train": info["train_images"]["records"], "test": info["test_images"]["records"]}}

    def split_arrays(self, files: dict[str, list[dict]], ds, info: dict) -> dict[str, tuple]:
        out = {}
        for split in ("train", "test"):
            x, y = load_split(files[f"{split}_images"][0]["path"], files[f"{split}_labels"][0]["path"], ds.num_classes, None)
            out[split] = (x, y)
        return out
