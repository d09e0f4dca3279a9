"""`format: tfrecord`: shards by glob (`{role: train, name: "train-*.tfrecord"}`) of tf.train.Example
records with a declared feature spec:

    feature_spec:
      image: {dtype: uint8, shape: [28, 28], encoding: raw}   # raw bytes | png | jpeg (encoded image) | none (a list)
      label: {dtype: int64, shape: []}
    label: label          # the label feature; the other features (or `features: [...]`) are the input

Verification walks every shard's record framing (the record count) and parses the first records of
each shard against the spec with a small pure-Python reader, so no TensorFlow is needed at fetch
time. Training streams the shards with tf.data; every input pipeline reads its own shards."""
from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

from ..errors import DataFormatError
from .formats import Format
from .splits import STREAM_PARALLEL

DTYPES = {"uint8": "bytes", "float32": "float", "int64": "int64"}
ENCODINGS = ("raw", "png", "jpeg", "none")
CHECK_RECORDS = 8   # records of each shard parsed against the spec at fetch time
BATCH = 512         # records parsed at once while streaming


def _varint(buf: bytes, i: int) -> tuple[int, int]:
    shift = value = 0
    while True:
        b = buf[i]
        value |= (b & 0x7F) << shift
        i += 1
        if not b & 0x80:
            return value, i
        shift += 7


def _fields(buf: bytes):
    """(field number, wire type, value) of a protobuf message (LEN values as bytes)."""
    i = 0
    while i < len(buf):
        key, i = _varint(buf, i)
        wire = key & 7
        if wire == 0:
            value, i = _varint(buf, i)
        elif wire == 1:
            value, i = buf[i:i + 8], i + 8
        elif wire == 2:
            n, i = _varint(buf, i)
            value, i = buf[i:i + n], i + n
        elif wire == 5:
            value, i = buf[i:i + 4], i + 4
        else:
            raise ValueError(f"wire type {wire}")
        yield key >> 3, wire, value


def parse_example(buf: bytes) -> dict[str, tuple[str, list]]:
    """tf.train.Example -> {feature name: (bytes|float|int64, values)}."""
    out = {}
    for num, _, features in _fields(buf):
        if num != 1:
            continue
        for _, _, entry in _fields(features):
            name, feature = "", b""
            for n, _, v in _fields(entry):
                name, feature = (v.decode(), feature) if n == 1 else (name, v if n == 2 else feature)
            for kind_num, _, lst in _fields(feature):
                kind = {1: "bytes", 2: "float", 3: "int64"}[kind_num]
                values = []
                for _, wire, v in _fields(lst):
                    if kind == "bytes":
                        values.append(v)
                    elif kind == "float":
                        values += list(struct.unpack(f"<{len(v) // 4}f", v)) if wire == 2 else [struct.unpack("<f", v)[0]]
                    else:
                        values += _unpack_varints(v) if wire == 2 else [v]
                out[name] = (kind, values)
            out.setdefault(name, ("bytes", []))
    return out


def _unpack_varints(buf: bytes) -> list[int]:
    out, i = [], 0
    while i < len(buf):
        v, i = _varint(buf, i)
        out.append(v - (1 << 64) if v >= 1 << 63 else v)
    return out


def read_records(path: Path, parse_first: int):
    """(record count, the first `parse_first` records) from a TFRecord file's framing."""
    count, first = 0, []
    with open(path, "rb") as f:
        while header := f.read(12):
            if len(header) < 12:
                raise DataFormatError(str(path), f"record {count} header", "12 bytes", f"{len(header)} bytes (truncated)")
            (length,) = struct.unpack("<Q", header[:8])
            if count < parse_first:
                data = f.read(length)
                if len(data) < length:
                    raise DataFormatError(str(path), f"record {count}", f"{length} bytes", f"{len(data)} (truncated)")
                first.append(data)
                f.seek(4, 1)
            else:
                f.seek(length + 4, 1)
            count += 1
        if f.tell() != path.stat().st_size:
            raise DataFormatError(str(path), f"record {count - 1}", "a complete record", "a truncated file")
    return count, first


class TfrecordFormat(Format):
    name = "tfrecord"
    streams = True

    def check(self, ds: dict) -> list[str]:
        spec, problems = ds.get("feature_spec") or {}, []
        if not spec:
            return ["dataset.feature_spec: expected {feature: {dtype, shape, encoding}} for format=tfrecord, got {}"]
        for name, f in spec.items():
            if f.get("dtype") not in DTYPES:
                problems.append(f"dataset.feature_spec.{name}.dtype: expected one of {list(DTYPES)}, got {f.get('dtype')!r}")
            if f.get("encoding", "none") not in ENCODINGS:
                problems.append(f"dataset.feature_spec.{name}.encoding: expected one of {list(ENCODINGS)}, "
                                f"got {f.get('encoding')!r}")
        if ds.get("label") not in spec:
            problems.append(f"dataset.label: expected one of the feature_spec's features {list(spec)}, got {ds.get('label')!r}")
        return problems

    def inputs(self, ds) -> list[str]:
        return list(ds.features) if ds.features else [n for n in ds.feature_spec if n != ds.label]

    def verify(self, path: Path, role: str, ds) -> dict:
        count, first = read_records(path, CHECK_RECORDS)
        for i, buf in enumerate(first):
            try:
                example = parse_example(buf)
            except (ValueError, IndexError, KeyError, struct.error) as e:
                raise DataFormatError(str(path), f"record {i}", "a tf.train.Example", f"unparseable ({e})") from None
            for name in [*self.inputs(ds), ds.label]:
                self._check_feature(path, i, name, ds.feature_spec[name], example.get(name), ds)
        return {"records": count}

    @staticmethod
    def _check_feature(path: Path, i: int, name: str, spec: dict, got, ds) -> None:
        where = f"record {i}, feature {name!r}"
        want_kind = "bytes" if spec.get("encoding", "none") != "none" else DTYPES[spec["dtype"]]
        if got is None:
            raise DataFormatError(str(path), where, f"{want_kind} values (dataset.feature_spec)", "no such feature")
        kind, values = got
        size = int(np.prod(spec.get("shape") or [1]))
        if kind != want_kind:
            raise DataFormatError(str(path), where, f"a {want_kind} list (dataset.feature_spec)", f"a {kind} list")
        encoding = spec.get("encoding", "none")
        if encoding == "raw" and (len(values) != 1 or len(values[0]) != size):
            raise DataFormatError(str(path), where, f"one raw value of {size} bytes for shape {spec.get('shape')}",
                                  f"{len(values)} value(s) of {[len(v) for v in values][:3]} bytes")
        if encoding == "none" and len(values) != size:
            raise DataFormatError(str(path), where, f"{size} values for shape {spec.get('shape')}", f"{len(values)}")
        if name == ds.label and ds.num_classes is not None and not all(0 <= v < ds.num_classes for v in values):
            raise DataFormatError(str(path), where, f"a class in [0, {ds.num_classes})", values[:3])

    def combine(self, members: dict[str, list[dict]], ds) -> dict:
        inputs = self.inputs(ds)
        shapes = [list(ds.feature_spec[n].get("shape") or []) for n in inputs]
        shape = shapes[0] if len(inputs) == 1 else [sum(int(np.prod(s or [1])) for s in shapes)]
        return {"input_shape": shape, "inputs": inputs,
                "records": {r: sum(m["info"]["records"] for m in ms) for r, ms in members.items()}}

    def file_batches(self, path, offset, ds, info: dict):
        import tensorflow as tf

        spec = {n: self._tf_feature(f) for n, f in ds.feature_spec.items() if n in (*info["inputs"], ds.label)}
        y_type = tf.int32 if ds.num_classes is not None else tf.float32

        def parse(j, records):
            ex = tf.io.parse_example(records, spec)
            xs = [self._decode(ex[n], ds.feature_spec[n]) for n in info["inputs"]]
            n = tf.shape(records)[0]
            x = xs[0] if len(xs) == 1 else tf.concat([tf.reshape(tf.cast(v, tf.float32), [n, -1]) for v in xs], 1)
            index = offset + j * BATCH + tf.range(n, dtype=tf.int64)
            return index, x, tf.cast(tf.reshape(ex[ds.label], [n]), y_type)

        return tf.data.TFRecordDataset(path).batch(BATCH).enumerate().map(parse, num_parallel_calls=STREAM_PARALLEL)

    def stored_bytes(self, ds, info: dict) -> int:
        """One input of uint8 pixels streams as uint8 (cast to float32 per batch at the end)."""
        inputs = info["inputs"]
        f = ds.feature_spec[inputs[0]]
        return 1 if len(inputs) == 1 and f["dtype"] == "uint8" and f.get("encoding", "none") != "none" else 4

    @staticmethod
    def _tf_feature(f: dict):
        import tensorflow as tf

        if f.get("encoding", "none") != "none":
            return tf.io.FixedLenFeature([], tf.string)
        dtype = {"uint8": tf.int64, "int64": tf.int64, "float32": tf.float32}[f["dtype"]]
        return tf.io.FixedLenFeature(f.get("shape") or [], dtype)

    @staticmethod
    def _decode(values, f: dict):
        """A batch of one feature's values in its declared shape: uint8 stays uint8, else float32."""
        import tensorflow as tf

        shape, encoding = f.get("shape") or [], f.get("encoding", "none")
        if encoding == "raw":
            values = tf.reshape(tf.io.decode_raw(values, tf.as_dtype(f["dtype"])), [-1, *shape])
        elif encoding in ("png", "jpeg"):
            channels = shape[2] if len(shape) == 3 else 1
            decode = lambda v: tf.reshape(tf.io.decode_image(v, channels=channels, expand_animations=False), shape)  # noqa: E731
            values = tf.map_fn(decode, values, fn_output_signature=tf.uint8)
        return values if values.dtype == tf.uint8 else tf.cast(values, tf.float32)
