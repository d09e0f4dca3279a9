"""A strict reader for the MNIST IDX format (gzip, magic, dimensions, exact length, label range)."""
from __future__ import annotations

import gzip
import zlib
from pathlib import Path

import numpy as np

from ..errors import DataFormatError

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
