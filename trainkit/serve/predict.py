"""`trainkit models predict REF --input FILE`: batch scoring with onnxruntime.

Inputs, by kind (READERS): a `.npy` array ([N, *input dims] or flat rows [N, features]); a folder
of PNG/JPEG images (sorted by name; converted to grayscale for [H, W] inputs or RGB for
[H, W, 3], resized to H x W; raw 0..255 pixel values, as trainkit's models expect); a `.csv` with
a header row whose numeric columns are the features (plus an optional `id` column). Outputs: CSV
(one row per input: id, then predicted class and per-class probabilities for classifiers, the
value(s) for regression) or `.npy` (the raw first output).
"""
from __future__ import annotations

import csv
import math
import sys
from pathlib import Path
from typing import Callable

import numpy as np

from ..errors import NotFoundError, DataError, UsageError
from ..registry.store import ModelRef, Registry
from .models import default_threads, fetch
from .runtimes import check_trust, open_session
from .protocol import Signature, TensorSpec

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
OUTPUT_SUFFIXES = (".csv", ".npy")


def predict(registry: Registry, ref: str, input: Path, output: Path | None, *, batch: int,
            cache_dir: Path, allow_nonfinite: bool = False, runtime: str = "auto", trust_model: bool = False) -> int:
    """Score every row of `input` and write the predictions; 0 on success."""
    check_args(input, output, batch)
    check_trust(runtime, trust_model)
    name, version = registry.resolve(ModelRef.parse(ref))
    entry, chosen, path = fetch(registry, name, version, cache_dir, runtime, trust_model)
    signature = Signature.from_entry(entry["signature"])
    if len(signature.inputs) != 1:
        raise UsageError(f"{name}:{version}: predict expected a model with one input, got "
                         f"{len(signature.inputs)} ({', '.join(t.name for t in signature.inputs)})")
    with _progress() as progress:
        ids, x = read_input(input, signature.inputs[0], progress)
        if not allow_nonfinite:
            check_finite(x, input)
        session = open_session(chosen, path, default_threads(entry), [t.name for t in signature.outputs])
        y = score(session, signature, x, batch, progress)
    write_output(output, ids, y, entry.get("task"))
    print(f"scored {len(x)} row(s) of {input} with {name}:{version} ({chosen.name}) -> {output or 'stdout'}",
          file=sys.stderr)
    return 0


def check_args(input: Path, output: Path | None, batch: int) -> None:
    if batch < 1:
        raise UsageError(f"--batch: expected an integer >= 1, got {batch}")
    if output is not None and output.suffix.lower() not in OUTPUT_SUFFIXES:
        raise UsageError(f"--output: expected a file ending in .csv or .npy, got {str(output)!r}")
    if not input.exists():
        raise NotFoundError(f"--input {input}: no such file or folder")
    if not input.is_dir() and input.suffix.lower() not in READERS:
        raise UsageError(f"--input {input}: expected a .npy file, a .csv file or a folder of PNG/JPEG "
                         f"images, got a {input.suffix or 'suffix-less'} file")


# ------------------------------------------------------------------ reading
def read_input(path: Path, spec: TensorSpec, progress) -> tuple[list[str], np.ndarray]:
    """Ids and an array [N, *dims] of the input's dtype."""
    return READERS["dir" if path.is_dir() else path.suffix.lower()](path, spec, progress)


def read_npy(path: Path, spec: TensorSpec, progress=None) -> tuple[list[str], np.ndarray]:
    try:
        a = np.load(path, allow_pickle=False)
    except (ValueError, OSError) as e:
        raise DataError(f"{path}: expected a .npy array of numbers, got an unreadable file ({e})") from None
    if a.dtype.kind not in "biuf":
        raise DataError(f"{path}: expected an array of numbers, got dtype {a.dtype}")
    return [str(i) for i in range(len(a))], fit_rows(a, spec, path)


def read_csv(path: Path, spec: TensorSpec, progress=None) -> tuple[list[str], np.ndarray]:
    with open(path, newline="") as f:
        header = next(csv.reader(f), None)
    if not header:
        raise DataError(f"{path}: expected a header row, then one row of numbers per input, got an empty file")
    id_col = header.index("id") if "id" in header else None
    features = [i for i in range(len(header)) if i != id_col]
    want = math.prod(_dims(spec))
    if len(features) != want:
        raise DataError(f"{path}: expected {want} feature columns (the model's input {spec.name!r} "
                        f"{spec.v2_shape}) plus an optional 'id' column, got {len(features)} "
                        f"(header: {_preview(header)})")
    data = _loadtxt(path, features, float)
    ids = [str(v) for v in _loadtxt(path, [id_col], str)] if id_col is not None else [str(i) for i in range(len(data))]
    return ids, fit_rows(data, spec, path)


def read_images(path: Path, spec: TensorSpec, progress) -> tuple[list[str], np.ndarray]:
    files = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise DataError(f"{path}: expected PNG or JPEG files in the folder, got none "
                        f"({sum(1 for _ in path.iterdir())} other entries)")
    dims = _dims(spec)
    if len(dims) not in (2, 3) or (len(dims) == 3 and dims[2] not in (1, 3)):
        raise DataError(f"{path}: image folders need a model input of shape [N, H, W] or [N, H, W, 3], "
                        f"the model's input {spec.name!r} has shape {spec.v2_shape}")
    load = image_loader(dims)
    images = [load(f) for f in progress.track(files, description="reading images")]
    return [f.name for f in files], np.stack(images).astype(spec.dtype)


MAX_PIXELS = 25_000_000   # images declaring more are refused (exit 3), as dataset.max_image_pixels


def image_loader(dims: tuple[int, ...]) -> Callable[[Path], np.ndarray]:
    """Reads one image as raw 0..255 pixels in `dims`: grayscale for [H, W] (or [H, W, 1]), RGB for [H, W, 3]."""
    from PIL import Image, UnidentifiedImageError

    height, width = dims[0], dims[1]
    mode = "RGB" if len(dims) == 3 and dims[2] == 3 else "L"

    def load(file: Path) -> np.ndarray:
        try:
            with Image.open(file) as im:
                if im.size[0] * im.size[1] > MAX_PIXELS:   # from the header, before decoding
                    raise DataError(f"{file}: expected an image of at most {MAX_PIXELS} pixels, got "
                                    f"{im.size[0]}x{im.size[1]} (a decompression bomb, or resize it first)")
                im = im.convert(mode)
                if im.size != (width, height):
                    im = im.resize((width, height), Image.Resampling.BILINEAR)
                return np.asarray(im, dtype=np.float32).reshape(dims)
        except (OSError, UnidentifiedImageError, ValueError, Image.DecompressionBombError) as e:
            raise DataError(f"{file}: expected a readable PNG or JPEG image, got {type(e).__name__}: {e}") from None

    return load


READERS = {".npy": read_npy, ".csv": read_csv, "dir": read_images}


def fit_rows(a: np.ndarray, spec: TensorSpec, path: Path) -> np.ndarray:
    """`a` as [N, *dims] of the input's dtype: as given, or from flat rows [N, prod(dims)]."""
    dims = _dims(spec)
    if a.ndim == len(dims) + 1 and all(d is None or d == s for d, s in zip(spec.shape[1:], a.shape[1:])):
        return a.astype(spec.dtype, copy=False)
    if a.ndim == 2 and None not in spec.shape[1:] and a.shape[1] == math.prod(dims):
        return a.reshape(len(a), *dims).astype(spec.dtype, copy=False)
    raise DataError(f"{path}: expected an array of shape [N, {', '.join(map(str, _dims(spec, '?')))}]"
                    f"{'' if len(dims) == 1 else f' or [N, {math.prod(dims)}]'} (the model's input "
                    f"{spec.name!r} {spec.v2_shape}), got shape {list(a.shape)}")


def check_finite(x: np.ndarray, path: Path) -> None:
    if x.dtype.kind == "f":
        bad = x.size - int(np.count_nonzero(np.isfinite(x)))
        if bad:
            raise DataError(f"{path}: expected finite numbers, got {bad} NaN or infinite value(s) "
                            f"(pass --allow-nonfinite to score them anyway)")


# ------------------------------------------------------------------ scoring and writing
def score(session, signature: Signature, x: np.ndarray, batch: int, progress) -> np.ndarray:
    """The first output for every row, `batch` rows per runtime call."""
    inp, out = signature.inputs[0].name, signature.outputs[0].name
    starts = range(0, len(x), batch)
    parts = [session.run([out], {inp: np.ascontiguousarray(x[i:i + batch])})[0]
             for i in progress.track(starts, total=len(starts), description="scoring")]
    return np.concatenate(parts) if parts else np.zeros((0,), np.float32)


def write_output(output: Path | None, ids: list[str], y: np.ndarray, task: str | None) -> None:
    if output is not None and output.suffix.lower() == ".npy":
        np.save(output, y)
        return
    header, rows = table(ids, y, task)
    with (open(output, "w", newline="") if output else _stdout()) as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)


def table(ids: list[str], y: np.ndarray, task: str | None) -> tuple[list[str], list[list]]:
    """CSV header and rows: id, predicted_class and prob_<k> for classifiers; value(s) for regression."""
    y2 = y.reshape(len(y), -1)
    task = task or ("classification" if y2.shape[1] > 1 else "regression")
    fmt = lambda row: [f"{v:.9g}" for v in row]  # noqa: E731 - exact for float32
    if task == "classification" and y2.shape[1] > 1:
        header = ["id", "predicted_class", *(f"prob_{k}" for k in range(y2.shape[1]))]
        return header, [[i, int(np.argmax(r)), *fmt(r)] for i, r in zip(ids, y2)]
    if task == "binary":
        return ["id", "predicted_class", "probability"], [[i, int(r[0] > 0.5), *fmt(r[:1])] for i, r in zip(ids, y2)]
    names = ["value"] if y2.shape[1] == 1 else [f"value_{k}" for k in range(y2.shape[1])]
    return ["id", *names], [[i, *fmt(r)] for i, r in zip(ids, y2)]


# ------------------------------------------------------------------ helpers
def _dims(spec: TensorSpec, unknown=None) -> tuple:
    return tuple(unknown if d is None else d for d in spec.shape[1:])


def _loadtxt(path: Path, columns: list[int], dtype) -> np.ndarray:
    import warnings

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)   # "input contained no data": reported below
            data = np.loadtxt(path, delimiter=",", skiprows=1, usecols=columns, dtype=dtype, ndmin=2 if dtype is float else 1)
    except ValueError as e:
        raise DataError(f"{path}: expected numbers in every feature column, got: {e}") from None
    if len(data) == 0:
        raise DataError(f"{path}: expected at least one data row after the header, got none")
    return data


def _preview(header: list[str]) -> str:
    return ", ".join(header[:5]) + (f", ... ({len(header)} columns)" if len(header) > 5 else "")


class _stdout:
    """sys.stdout as a context manager that is not closed; a reader that stops early (`| head`) is fine."""

    def __enter__(self):
        return sys.stdout

    def __exit__(self, kind, exc, tb):
        try:
            sys.stdout.flush()
        except BrokenPipeError:
            kind = BrokenPipeError
        if kind is BrokenPipeError:
            import os

            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit
            return True
        return None


class _Plain:
    """No progress bar (not a terminal): `track` passes the items through."""

    def track(self, items, total=None, description=""):
        return items

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return None


def _progress():
    """A rich progress bar on stderr when it is a terminal; otherwise nothing."""
    if not sys.stderr.isatty():
        return _Plain()
    from rich.console import Console
    from rich.progress import Progress

    return Progress(console=Console(stderr=True), transient=True)
