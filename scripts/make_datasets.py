"""Write real Fashion-MNIST (Debian's dataset-fashion-mnist) in every format trainkit reads, for the
`fashion_*` dataset presets, the tests and scripts/bench_data.py:

    python scripts/make_datasets.py [--out DIR] [--formats csv,parquet,npz,png,tfrecord] [--limit N]
                                    [--tfrecord-copies 10] [--shards 4]

DIR defaults to $TRAINKIT_DATA or ~/.trainkit/data. Layout:
    DIR/fashion-csv/{train,test}.csv              785 columns: label, p0..p783
    DIR/fashion-parquet/{train,test}.parquet
    DIR/fashion-npz/{train,test}.npz              x: uint8 [n,28,28], y: uint8 [n]
    DIR/fashion-png/{train,test}/<class>/<i>.png  RGB
    DIR/fashion-tfrecord/{train,test}-NNNNN-of-MMMMM.tfrecord   image: raw uint8 bytes, label: int64
(--tfrecord-copies K repeats the training set K times: K x 60k images, for streaming tests.)
"""
from __future__ import annotations

import argparse
import gzip
import os
import shutil
import sys
from pathlib import Path

import numpy as np

FASHION = Path("/usr/share/datasets/fashion-mnist")
CLASSES = ["tshirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "boot"]


def read_idx(path: Path) -> np.ndarray:
    data = gzip.decompress(path.read_bytes())
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(data, np.uint8, offset=4 + 4 * ndim).reshape(dims)


def load(limit: int | None) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    split = {"train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
             "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")}
    return {s: (read_idx(FASHION / i)[:limit], read_idx(FASHION / lab)[:limit]) for s, (i, lab) in split.items()}


def write_csv(out: Path, data) -> None:
    header = "label," + ",".join(f"p{i}" for i in range(784))
    for split, (x, y) in data.items():
        rows = np.column_stack([y, x.reshape(len(x), -1)]).astype(np.int64)
        np.savetxt(out / f"{split}.csv", rows, fmt="%d", delimiter=",", header=header, comments="")


def write_parquet(out: Path, data) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    for split, (x, y) in data.items():
        flat = x.reshape(len(x), -1)
        columns = {"label": pa.array(y.astype(np.int64))}
        columns.update({f"p{i}": pa.array(flat[:, i]) for i in range(784)})
        pq.write_table(pa.table(columns), out / f"{split}.parquet", row_group_size=10_000)


def write_npz(out: Path, data) -> None:
    for split, (x, y) in data.items():
        np.savez(out / f"{split}.npz", x=x, y=y)


def write_png(out: Path, data) -> None:
    from PIL import Image

    for split, (x, y) in data.items():
        for c in CLASSES:
            (out / split / c).mkdir(parents=True, exist_ok=True)
        for i, (img, label) in enumerate(zip(x, y)):
            Image.fromarray(img).convert("RGB").save(out / split / CLASSES[label] / f"{i:05d}.png", optimize=False)


def write_tfrecord(out: Path, data, copies: int, shards: int) -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import tensorflow as tf

    def example(img, label) -> bytes:
        return tf.train.Example(features=tf.train.Features(feature={
            "image": tf.train.Feature(bytes_list=tf.train.BytesList(value=[img.tobytes()])),
            "label": tf.train.Feature(int64_list=tf.train.Int64List(value=[int(label)]))})).SerializeToString()

    for split, (x, y) in data.items():
        n_copies = copies if split == "train" else 1
        per = -(-len(x) // shards)
        first = []
        for s in range(shards):
            path = out / f"{split}-{s:05d}-of-{shards * n_copies:05d}.tfrecord"
            with tf.io.TFRecordWriter(str(path)) as w:
                for img, label in zip(x[s * per:(s + 1) * per], y[s * per:(s + 1) * per]):
                    w.write(example(img, label))
            first.append(path)
        for c in range(1, n_copies):   # more copies of the same shards under the next shard numbers
            for s, path in enumerate(first):
                shutil.copyfile(path, out / f"{split}-{c * shards + s:05d}-of-{shards * n_copies:05d}.tfrecord")


WRITERS = {"csv": write_csv, "parquet": write_parquet, "npz": write_npz, "png": write_png}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=os.environ.get("TRAINKIT_DATA") or str(Path.home() / ".trainkit" / "data"))
    ap.add_argument("--formats", default="csv,parquet,npz,png,tfrecord")
    ap.add_argument("--limit", type=int, default=None, help="only the first N examples of each split")
    ap.add_argument("--tfrecord-copies", type=int, default=1)
    ap.add_argument("--shards", type=int, default=4)
    args = ap.parse_args(argv)
    data = load(args.limit)
    for fmt in args.formats.split(","):
        out = Path(args.out) / f"fashion-{fmt}"
        if out.exists():
            print(f"{out}: exists, kept", file=sys.stderr)
            continue
        tmp = out.with_name(out.name + ".partial")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        if fmt == "tfrecord":
            write_tfrecord(tmp, data, args.tfrecord_copies, args.shards)
        else:
            WRITERS[fmt](tmp, data)
        tmp.rename(out)
        print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
