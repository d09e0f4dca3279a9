"""Tables and arrays: CSV and Parquet (a label column; features = the other columns or
`dataset.features`), and NumPy `.npz` files (arrays `x_key`, `y_key`). CSV and Parquet can stream
(tf.data from the cached files); verification reads them with pyarrow in batches, and a bad file
is reported with its row and column."""
from __future__ import annotations

import csv
import zipfile
import zlib
from pathlib import Path

import numpy as np

from ..errors import DataFormatError
from .formats import Format
from .splits import STREAM_PARALLEL

BATCH = 1024   # rows parsed at once while streaming
CHUNK = 1 << 20  # bytes decompressed at once from an npz member


class NpyMember:
    """One array of an .npz file, read in chunks: its header first (shape, dtype), then its data,
    which must be exactly what the header declares, expand at most `max_ratio` times its compressed
    size and fit `max_bytes`, checked before anything is allocated and while decompressing."""

    def __init__(self, z: zipfile.ZipFile, key: str, path: Path, ds):
        self.path, self.key = str(path), key
        info = z.getinfo(f"{key}.npy")
        self.file = z.open(info)
        fmt = np.lib.format
        version = fmt.read_magic(self.file)
        read = fmt.read_array_header_1_0 if version == (1, 0) else fmt.read_array_header_2_0
        self.shape, self.fortran, self.dtype = read(self.file)
        if self.dtype.hasobject or self.dtype.kind not in "biuf":
            raise DataFormatError(self.path, f"array {key!r}", "numbers (bool, int, uint or float)", f"dtype {self.dtype}")
        self.nbytes = int(np.prod(self.shape, dtype=object)) * self.dtype.itemsize
        self.limit = min(int(ds.max_file_mb * 1e6), int(ds.max_compression_ratio * max(info.compress_size, 1)))
        if self.nbytes > self.limit:
            raise self.too_large(f"{self.nbytes} bytes for shape {list(self.shape)}")

    def too_large(self, got: str) -> DataFormatError:
        return DataFormatError(self.path, f"array {self.key!r}", f"at most {self.limit} bytes decompressed "
                               f"(dataset.max_compression_ratio x its compressed size, and dataset.max_file_mb)", got)

    def chunks(self):
        """The data as flat arrays of `dtype`, about CHUNK bytes each; the byte count is checked."""
        done, rest, size = 0, b"", self.dtype.itemsize
        while block := self.file.read(CHUNK):
            done += len(block)
            if done > self.nbytes:
                raise DataFormatError(self.path, f"array {self.key!r} length",
                                      f"{self.nbytes} bytes for shape {list(self.shape)}", "more (stopped reading there)")
            block = rest + block
            usable = len(block) - len(block) % size
            rest = block[usable:]
            yield np.frombuffer(block[:usable], self.dtype)
        if done != self.nbytes:
            raise DataFormatError(self.path, f"array {self.key!r} length",
                                  f"{self.nbytes} bytes for shape {list(self.shape)}", f"{done} bytes")


def check_labels(path: Path, y: np.ndarray, num_classes: int | None, first_row: int) -> None:
    """Classification labels must be whole numbers in [0, num_classes); regression ones finite."""
    if num_classes is None:
        bad = np.flatnonzero(~np.isfinite(y))
        what, expected = "label", "a finite number"
    else:
        bad = np.flatnonzero(~np.isfinite(y) | (y < 0) | (y >= num_classes) | (y != np.round(y)))
        what, expected = "label", f"a class in [0, {num_classes})"
    if bad.size:
        raise DataFormatError(str(path), f"{what} in row {first_row + int(bad[0]) + 1}", expected, y[bad[0]].item())


def label_array(y: np.ndarray, num_classes: int | None) -> np.ndarray:
    return y.astype(np.int32) if num_classes is not None else y.astype(np.float32)


class TableFormat(Format):
    """What CSV and Parquet share: the label/feature columns and the combine/check logic."""

    streams = True

    def check(self, ds: dict) -> list[str]:
        return [] if ds.get("label") else [f"dataset.label: expected the label column's name for format={self.name}, got None"]

    def columns(self, path: Path, names: list[str], ds) -> tuple[list[str], str]:
        """(feature columns, label column) of a file with these column names; missing ones are an error."""
        if ds.label not in names:
            raise DataFormatError(str(path), "label column", f"a column named {ds.label!r}", f"columns {names[:12]}"
                                  + ("..." if len(names) > 12 else ""))
        features = list(ds.features) if ds.features else [c for c in names if c != ds.label]
        missing = [c for c in features if c not in names]
        if missing:
            raise DataFormatError(str(path), "feature columns", f"columns {missing} (dataset.features)", f"columns {names}")
        return features, ds.label

    def combine(self, members: dict[str, list[dict]], ds) -> dict:
        infos = [m for ms in members.values() for m in ms]
        first = infos[0]["info"]["features"]
        for m in infos[1:]:
            if m["info"]["features"] != first:
                raise DataFormatError(m["path"], "feature columns", f"{first} (as in {infos[0]['path']})",
                                      m["info"]["features"])
        columns = infos[0]["info"]["columns"]
        for m in infos[1:]:
            if m["info"]["columns"] != columns:
                raise DataFormatError(m["path"], "columns", f"{columns} (as in {infos[0]['path']})", m["info"]["columns"])
        return {"features": first, "label": ds.label, "input_shape": [len(first)], "columns": columns,
                "records": {r: sum(m["info"]["records"] for m in ms) for r, ms in members.items()}}


class CsvFormat(TableFormat):
    name = "csv"

    def verify(self, path: Path, role: str, ds) -> dict:
        import pyarrow as pa
        import pyarrow.csv as pc

        with open(path, newline="") as f:
            header = next(csv.reader(f), None)
        if not header:
            raise DataFormatError(str(path), "header row", "a first row naming the columns", "an empty file")
        features, label = self.columns(path, header, ds)
        types = {c: pa.float64() for c in [*features, label]}
        rows = 0
        try:
            reader = pc.open_csv(path, convert_options=pc.ConvertOptions(column_types=types, include_columns=[*features, label]))
            for batch in reader:
                y = batch.column(label).to_numpy(zero_copy_only=False)
                check_labels(path, y, ds.num_classes, rows)
                for name in features:
                    col = batch.column(name)
                    if col.null_count:
                        raise DataFormatError(str(path), f"value in row {rows + _first_null(col) + 1}, column {name!r}",
                                              "a number", "an empty field")
                rows += batch.num_rows
        except pa.ArrowInvalid:
            _diagnose_csv(path, header, [*features, label])
            raise
        return {"records": rows, "features": features, "columns": header}

    def arrays(self, members: list[dict], ds, info: dict):
        import pyarrow.csv as pc

        import pyarrow as pa

        types = {c: pa.float32() for c in info["features"]}
        parts = [pc.read_csv(m["path"], convert_options=pc.ConvertOptions(
            include_columns=[*info["features"], info["label"]], column_types=types)) for m in members]
        x = np.concatenate([np.column_stack([t.column(c).to_numpy() for c in info["features"]]) for t in parts])
        y = np.concatenate([t.column(info["label"]).to_numpy() for t in parts])
        return x.astype(np.float32), label_array(y, ds.num_classes)

    def file_batches(self, path, offset, ds, info: dict):
        import tensorflow as tf

        columns = info["columns"]
        wanted = [*info["features"], info["label"]]
        cols = sorted(columns.index(c) for c in wanted)
        order = [cols.index(columns.index(c)) for c in wanted]
        y_type = tf.int32 if ds.num_classes is not None else tf.float32

        def parse(j, lines):
            values = tf.io.decode_csv(lines, [[0.0]] * len(cols), select_cols=cols)
            values = [values[i] for i in order]
            index = offset + j * BATCH + tf.range(tf.shape(lines)[0], dtype=tf.int64)
            return index, tf.stack(values[:-1], axis=1), tf.cast(values[-1], y_type)

        return tf.data.TextLineDataset(path).skip(1).batch(BATCH).enumerate().map(parse, num_parallel_calls=STREAM_PARALLEL)


def _first_null(col) -> int:
    return int(np.flatnonzero(np.asarray(col.is_null()))[0])


def _diagnose_csv(path: Path, header: list[str], used: list[str]) -> None:
    """pyarrow says what is wrong but not where: find the first bad row with the csv module."""
    idx = {c: header.index(c) for c in used}
    with open(path, newline="") as f:
        for row_no, row in enumerate(csv.reader(f)):
            if row_no == 0:
                continue
            if len(row) != len(header):
                raise DataFormatError(str(path), f"row {row_no}", f"{len(header)} fields (as in the header)",
                                      f"{len(row)} fields")
            for name, i in idx.items():
                try:
                    float(row[i])
                except ValueError:
                    raise DataFormatError(str(path), f"value in row {row_no}, column {name!r}", "a number",
                                          repr(row[i])) from None


class ParquetFormat(TableFormat):
    name = "parquet"

    def verify(self, path: Path, role: str, ds) -> dict:
        import pyarrow.parquet as pq

        try:
            pf = pq.ParquetFile(path)
        except Exception as e:  # noqa: BLE001 - pyarrow raises several types for a bad file
            raise DataFormatError(str(path), "Parquet file", "a readable Parquet file", f"{type(e).__name__}: {e}") from None
        names = pf.schema_arrow.names
        features, label = self.columns(path, names, ds)
        for name in [*features, label]:
            kind = pf.schema_arrow.field(name).type
            if not (str(kind).startswith(("int", "uint", "float", "double", "bool", "halffloat"))):
                raise DataFormatError(str(path), f"column {name!r}", "a numeric type", str(kind))
        meta = pf.metadata
        expands = sum(meta.row_group(i).total_byte_size for i in range(meta.num_row_groups))
        limit = min(int(ds.max_file_mb * 1e6), int(ds.max_compression_ratio * max(path.stat().st_size, 1)))
        if expands > limit:
            raise DataFormatError(str(path), "Parquet file", f"at most {limit} bytes decoded (dataset.max_compression_ratio "
                                  f"x its size, and dataset.max_file_mb)", f"row groups of {expands} bytes")
        first = 0
        try:
            for batch in pf.iter_batches(batch_size=65536, columns=[label]):   # never the whole column at once
                y = batch.column(0).to_numpy(zero_copy_only=False).astype(np.float64)
                check_labels(path, y, ds.num_classes, first)
                first += len(y)
        except DataFormatError:
            raise
        except Exception as e:  # noqa: BLE001 - pyarrow raises several types for a bad file
            raise DataFormatError(str(path), f"column {label!r}", "readable values", f"{type(e).__name__}: {e}") from None
        if first != meta.num_rows:
            raise DataFormatError(str(path), "row count", f"{meta.num_rows} (the file's metadata)", first)
        return {"records": pf.metadata.num_rows, "features": features, "columns": names,
                "row_groups": pf.num_row_groups}

    def arrays(self, members: list[dict], ds, info: dict):
        import pyarrow.parquet as pq

        tables = [pq.read_table(m["path"], columns=[*info["features"], info["label"]]) for m in members]
        x = np.concatenate([np.column_stack([t.column(c).to_numpy() for c in info["features"]]) for t in tables])
        y = np.concatenate([t.column(info["label"]).to_numpy() for t in tables])
        return x.astype(np.float32), label_array(y, ds.num_classes)

    def file_batches(self, path, offset, ds, info: dict):
        import tensorflow as tf

        features, label = info["features"], info["label"]
        y_type = tf.int32 if ds.num_classes is not None else tf.float32

        def batches(file, first):
            import pyarrow.parquet as pq

            for batch in pq.ParquetFile(file.decode()).iter_batches(batch_size=BATCH, columns=[*features, label]):
                x = np.column_stack([batch.column(c).to_numpy(zero_copy_only=False) for c in features])
                yield (np.arange(first, first + batch.num_rows, dtype=np.int64), x.astype(np.float32),
                       batch.column(label).to_numpy(zero_copy_only=False).astype(y_type.as_numpy_dtype))
                first += batch.num_rows

        spec = (tf.TensorSpec([None], tf.int64), tf.TensorSpec([None, len(features)], tf.float32),
                tf.TensorSpec([None], y_type))
        return tf.data.Dataset.from_generator(batches, args=(path, offset), output_signature=spec)


class NpzFormat(Format):
    """NumPy `.npz` files holding the examples (`dataset.x_key`) and labels (`dataset.y_key`)."""

    name = "npz"

    def verify(self, path: Path, role: str, ds) -> dict:
        """Streams both arrays (never holding one whole): headers, exact lengths, labels."""
        try:
            with zipfile.ZipFile(path) as z:
                missing = [k for k in (ds.x_key, ds.y_key) if f"{k}.npy" not in z.namelist()]
                if missing:
                    raise DataFormatError(str(path), "arrays", f"arrays {ds.x_key!r} and {ds.y_key!r}",
                                          f"{sorted(n[:-4] for n in z.namelist())}")
                x, y = NpyMember(z, ds.x_key, path, ds), NpyMember(z, ds.y_key, path, ds)
                n = x.shape[0] if x.shape else 0
                if not y.shape or y.shape[0] != n:
                    raise DataFormatError(str(path), f"{ds.y_key!r} length", f"{n} (as {ds.x_key!r})", y.shape)
                for _ in x.chunks():
                    pass
                per_row = max(int(np.prod(y.shape[1:], dtype=object)), 1)
                seen = 0
                for chunk in y.chunks():   # the label is each row's first value
                    first = (np.arange(seen, seen + len(chunk)) < n) if y.fortran else \
                        (np.arange(seen, seen + len(chunk)) % per_row == 0)
                    check_labels(path, chunk[first].astype(np.float64), ds.num_classes,
                                 seen if y.fortran else -(-seen // per_row))
                    seen += len(chunk)
        except (zipfile.BadZipFile, zlib.error, EOFError, ValueError) as e:
            raise DataFormatError(str(path), "npz file", "a zip archive of .npy arrays", f"{type(e).__name__}: {e}") from None
        return {"records": n, "shape": list(x.shape[1:])}

    def combine(self, members: dict[str, list[dict]], ds) -> dict:
        shapes = {tuple(m["info"]["shape"]) for ms in members.values() for m in ms}
        if len(shapes) > 1:
            raise DataFormatError(str(members["train"][0]["path"]), "example shape", "the same in every file", sorted(shapes))
        return {"input_shape": list(shapes.pop()),
                "records": {r: sum(m["info"]["records"] for m in ms) for r, ms in members.items()}}

    def arrays(self, members: list[dict], ds, info: dict):
        """The examples as one float32 array, filled chunk by chunk (no whole-file copies)."""
        total = sum(m["info"]["records"] for m in members)
        x = np.empty((total, *info["input_shape"]), np.float32)
        flat, pos, ys = x.reshape(-1), 0, []
        for m in members:
            with zipfile.ZipFile(m["path"]) as z:
                member = NpyMember(z, ds.x_key, m["path"], ds)
                if member.fortran:
                    with np.load(m["path"]) as arrays:
                        part = np.asarray(arrays[ds.x_key], np.float32).reshape(-1)
                    flat[pos:pos + part.size] = part
                    pos += part.size
                else:
                    for chunk in member.chunks():
                        flat[pos:pos + chunk.size] = chunk
                        pos += chunk.size
            with np.load(m["path"]) as arrays:
                ys.append(np.asarray(arrays[ds.y_key]))
        return x, label_array(np.concatenate(ys), ds.num_classes)
