"""Format verification at fetch time (no TensorFlow): each bad file is named with the row, record or
folder and what was expected; the split rule is the same in memory and streamed."""
from __future__ import annotations

import gzip
import struct

import numpy as np
import pytest

from trainkit.config.schema import DatasetConfig, from_dict
from trainkit.data.formats import get_format
from trainkit.data.idx import verify_stream
from trainkit.data.load import Selection, selections
from trainkit.data.tfrecord import parse_example, read_records
from trainkit.errors import DataFormatError


def cfg(**kw) -> DatasetConfig:
    return from_dict(DatasetConfig, {"name": "t", "sources": ["file:///x/"], **kw})


def test_csv_checks_the_label_column_rows_and_values(tmp_path):
    csv = get_format("csv")
    good = tmp_path / "good.csv"
    good.write_text("a,b,label\n1,2,0\n3.5,4,1\n")
    assert csv.verify(good, "train", cfg(format="csv", label="label", num_classes=2)) == \
        {"records": 2, "features": ["a", "b"], "columns": ["a", "b", "label"]}
    cases = {
        "a,b,y\n1,2,0\n": ("bad label column: expected a column named 'label', got columns ['a', 'b', 'y']"),
        "a,b,label\n1,2,0\n4,5\n6,7,1\n": "bad row 2: expected 3 fields (as in the header), got 2 fields",
        "a,b,label\n1,2,0\n6,x,1\n": "bad value in row 2, column 'b': expected a number, got 'x'",
        "a,b,label\n1,2,0\n6,7,4\n": "bad label in row 2: expected a class in [0, 2), got 4.0",
        "a,b,label\n1,,0\n": "bad value in row 1, column 'b': expected a number, got an empty field",
    }
    for text, message in cases.items():
        path = tmp_path / "bad.csv"
        path.write_text(text)
        with pytest.raises(DataFormatError) as e:
            csv.verify(path, "train", cfg(format="csv", label="label", num_classes=2))
        assert str(e.value) == f"{path}: {message}"


def test_image_folder_refuses_unreadable_images_and_empty_class_folders(tmp_path):
    from PIL import Image

    fmt = get_format("image_folder")
    root = tmp_path / "train"
    for c in ("cat", "dog"):
        (root / c).mkdir(parents=True)
        Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(root / c / "0.png")
    (root / "dog" / "notes.txt").write_text("ignored")
    info = fmt.verify(root, "train", cfg(format="image_folder"))
    assert info == {"records": 2, "classes": ["cat", "dog"], "counts": {"cat": 1, "dog": 1}, "size": [8, 8]}
    (root / "dog" / "1.png").write_bytes(b"\x89PNG\r\n\x1a\n not an image")
    with pytest.raises(DataFormatError, match=r"dog/1.png: bad image: expected a readable PNG/JPEG/BMP/GIF image, got"):
        fmt.verify(root, "train", cfg(format="image_folder"))
    (root / "dog" / "1.png").unlink()
    (root / "bird").mkdir()
    with pytest.raises(DataFormatError, match=r"bird: bad class folder: expected at least one image \(.png/"):
        fmt.verify(root, "train", cfg(format="image_folder"))


def _varint(n: int) -> bytes:
    out = b""
    while True:
        b, n = n & 0x7F, n >> 7
        out += bytes([b | (0x80 if n else 0)])
        if not n:
            return out


def _ld(num: int, payload: bytes) -> bytes:
    return _varint(num << 3 | 2) + _varint(len(payload)) + payload


def example(features: dict) -> bytes:
    """A tf.train.Example, encoded by hand (no TensorFlow)."""
    entries = b""
    for name, (kind, values) in features.items():
        if kind == "bytes":
            lst = b"".join(_ld(1, v) for v in values)
        elif kind == "int64":
            lst = _ld(1, b"".join(_varint(v) for v in values))
        else:
            lst = _ld(1, struct.pack(f"<{len(values)}f", *values))
        feature = _ld({"bytes": 1, "float": 2, "int64": 3}[kind], lst)
        entries += _ld(1, _ld(1, name.encode()) + _ld(2, feature))
    return _ld(1, entries)


def write_records(path, records: list[bytes]) -> None:
    with open(path, "wb") as f:
        for r in records:   # TFRecord framing; trainkit's fetch-time check does not need the CRCs
            f.write(struct.pack("<Q", len(r)) + b"\0" * 4 + r + b"\0" * 4)


def test_tfrecord_records_are_counted_and_checked_against_the_feature_spec(tmp_path):
    spec = {"image": {"dtype": "uint8", "shape": [2, 2], "encoding": "raw"}, "label": {"dtype": "int64", "shape": []}}
    ds = cfg(format="tfrecord", feature_spec=spec, label="label", num_classes=3)
    good = [example({"image": ("bytes", [bytes([1, 2, 3, 4])]), "label": ("int64", [i % 3])}) for i in range(20)]
    path = tmp_path / "a.tfrecord"
    write_records(path, good)
    assert parse_example(good[4]) == {"image": ("bytes", [bytes([1, 2, 3, 4])]), "label": ("int64", [1])}
    assert get_format("tfrecord").verify(path, "train", ds) == {"records": 20}
    write_records(path, good[:3] + [example({"image": ("float", [1.0, 2.0, 3.0, 4.0]), "label": ("int64", [0])})])
    with pytest.raises(DataFormatError, match=r"record 3, feature 'image': expected a bytes list \(dataset.feature_spec\), "
                                             r"got a float list"):
        get_format("tfrecord").verify(path, "train", ds)
    write_records(path, [example({"image": ("bytes", [b"\0" * 5]), "label": ("int64", [0])})])
    with pytest.raises(DataFormatError, match=r"expected one raw value of 4 bytes for shape \[2, 2\], got 1 value\(s\) of \[5\]"):
        get_format("tfrecord").verify(path, "train", ds)
    path.write_bytes(path.read_bytes()[:-6])
    with pytest.raises(DataFormatError, match="truncated"):
        read_records(path, 8)


def test_idx_verification_streams_and_stops_a_gzip_bomb_at_the_declared_length(tmp_path):
    header = (0x803).to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in (10, 28, 28))
    bomb = tmp_path / "bomb.gz"
    with gzip.open(bomb, "wb", compresslevel=1) as f:
        f.write(header)
        for _ in range(64):   # 64 MB of zeros behind a header that declares 7840 bytes
            f.write(b"\0" * (1 << 20))
    with pytest.raises(DataFormatError, match=r"bad byte length: expected 7856 bytes for dims \(10, 28, 28\), got more"):
        verify_stream(bomb, "images", None, max_bytes=1 << 40)
    labels = tmp_path / "labels"
    labels.write_bytes((0x801).to_bytes(4, "big") + (3).to_bytes(4, "big") + bytes([1, 9, 12]))
    with pytest.raises(DataFormatError, match=r"bad label at index 2: expected a class in \[0, 10\), got 12"):
        verify_stream(labels, "labels", 10, 1 << 20)


def test_split_membership_is_the_same_rule_in_numpy_and_tensorflow():
    import tensorflow as tf
    idx = np.arange(20_000)
    sel = Selection(stop=15_000, lo=0.2, hi=0.3, seed=7)
    mask = sel.mask(idx)
    assert 0.09 < mask[:15_000].mean() < 0.11 and not mask[15_000:].any()
    assert (sel.tf_keep(tf.constant(idx, tf.int64)).numpy() == mask).all()
    parts = selections(cfg(validation_fraction=0.1, test_fraction=0.2, split_seed=3), {"train"}, 1000)
    masks = {name: s.mask(np.arange(1000)) for name, (role, s) in parts.items()}
    assert sum(m.astype(int) for m in masks.values()).max() == 1          # disjoint
    assert sum(m.sum() for m in masks.values()) == 1000                    # and complete
    tail = selections(cfg(validation_size=100, limit_train=600), {"train", "test"}, 1000)
    assert tail["val"][1].mask(np.arange(1000)).nonzero()[0].tolist() == list(range(500, 600))
    assert tail["train"][1].mask(np.arange(1000)).sum() == 500 and tail["test"][0] == "test"
