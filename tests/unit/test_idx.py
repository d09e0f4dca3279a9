"""The strict IDX reader: every kind of damage is a typed error naming the file, expected and actual."""
from __future__ import annotations

import gzip
import shutil
import time

import numpy as np
import pytest

from trainkit.data.idx import load_split, parse_idx, read_idx
from trainkit.errors import DataError, DataFormatError

from ..conftest import FASHION, idx_bytes, write_idx_set


def test_reads_valid_files(tmp_path):
    files = write_idx_set(tmp_path, n_train=30)
    x, y = load_split(files["train-images-idx3-ubyte.gz"], files["train-labels-idx1-ubyte.gz"], 10)
    assert x.shape == (30, 28, 28) and x.dtype == np.uint8
    assert y.shape == (30,) and y.max() < 10


@pytest.mark.skipif(not FASHION.exists(), reason="needs apt-get install dataset-fashion-mnist")
def test_reads_real_fashion_mnist():
    x, y = load_split(FASHION / "t10k-images-idx3-ubyte.gz", FASHION / "t10k-labels-idx1-ubyte.gz", 10)
    assert x.shape == (10000, 28, 28) and y.shape == (10000,)
    assert sorted(np.unique(y)) == list(range(10))
    assert np.bincount(y).tolist() == [1000] * 10


def test_bad_magic():
    data = idx_bytes(np.zeros((2, 28, 28)), 0x801)
    with pytest.raises(DataFormatError, match=r"bad magic number: expected 0x00000803 \(images\), got 0x00000801"):
        parse_idx(data, "images", "x.idx")


def test_wrong_dimensions():
    with pytest.raises(DataFormatError, match="bad image dimensions: expected 28x28, got 32x32"):
        parse_idx(idx_bytes(np.zeros((2, 32, 32)), 0x803), "images", "x.idx")


def test_exact_length_truncated_and_padded():
    good = idx_bytes(np.zeros((3, 28, 28)), 0x803)
    with pytest.raises(DataFormatError, match=f"expected {len(good)} bytes .* got {len(good) - 5} bytes"):
        parse_idx(good[:-5], "images", "x.idx")
    with pytest.raises(DataFormatError, match=f"got {len(good) + 1} bytes"):
        parse_idx(good + b"\0", "images", "x.idx")


def test_label_out_of_range_names_index_and_value():
    with pytest.raises(DataFormatError, match=r"label at index 2: expected a class in \[0, 10\), got 12"):
        parse_idx(idx_bytes(np.array([1, 2, 12, 3]), 0x801), "labels", "y.idx", num_classes=10)


def test_image_and_label_counts_must_agree(tmp_path):
    files = write_idx_set(tmp_path, n_train=30)
    (tmp_path / "short.gz").write_bytes(gzip.compress(idx_bytes(np.zeros(29), 0x801)))
    with pytest.raises(DataFormatError, match="bad label count: expected 30 .* got 29"):
        load_split(files["train-images-idx3-ubyte.gz"], tmp_path / "short.gz", 10)


def test_corrupt_gzip_names_the_file(tmp_path):
    bad = tmp_path / "train-images-idx3-ubyte.gz"
    bad.write_bytes(b"\x1f\x8b\x08\x00garbage-not-deflate")
    with pytest.raises(DataFormatError) as err:
        read_idx(bad, "images")
    assert str(bad) in str(err.value) and "expected a complete gzip stream" in str(err.value)
    assert isinstance(err.value, DataError)


@pytest.mark.skipif(not FASHION.exists(), reason="needs apt-get install dataset-fashion-mnist")
def test_truncated_real_file_fails_in_under_a_second(tmp_path):
    src = FASHION / "train-images-idx3-ubyte.gz"
    bad = tmp_path / src.name
    shutil.copy(src, bad)
    with open(bad, "r+b") as f:
        f.truncate(src.stat().st_size // 2)
    t0 = time.perf_counter()
    with pytest.raises(DataFormatError, match="gzip stream"):
        read_idx(bad, "images")
    assert time.perf_counter() - t0 < 1.0
