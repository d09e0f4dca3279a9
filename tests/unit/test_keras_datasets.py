"""entry.keras_datasets without TensorFlow: a trainkit dataset's arrays in Keras's shapes and dtypes
(real IDX files through trainkit's readers), the config check, and the script-side hook on a stand-in
`keras` package whose loader downloads from a URL (the one seam: Keras itself is tested in
tests/integration/test_mlflow.py)."""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from trainkit.config.schema import DatasetConfig, from_dict
from trainkit.config.validate import validate
from trainkit.data.datasets import DatasetStore
from trainkit.errors import ConfigError, DataError
from trainkit.keras_datasets import ENV, PATH, keras_arrays, write_npz
from trainkit.records.workspace import WorkspacePaths

from ..conftest import compose, write_idx_set

ROLES = {"train-images-idx3-ubyte.gz": "train_images", "train-labels-idx1-ubyte.gz": "train_labels",
         "t10k-images-idx3-ubyte.gz": "test_images", "t10k-labels-idx1-ubyte.gz": "test_labels"}


@pytest.fixture
def tiny(tmp_path) -> tuple[DatasetConfig, dict]:
    """A registered IDX dataset of 120 train and 40 test images (random pixels, labels 0..9)."""
    files = write_idx_set(tmp_path / "idx")
    ds = from_dict(DatasetConfig, {"name": "tiny", "description": "test", "sources": [f"file://{tmp_path / 'idx'}/"],
                                   "num_classes": 10, "files": [{"name": n, "role": ROLES[n],
                                   "sha256": hashlib.sha256(p.read_bytes()).hexdigest()} for n, p in files.items()]})
    return ds, DatasetStore(WorkspacePaths(tmp_path / "ws")).prepare(ds).to_json()


def test_a_dataset_answers_mnist_in_keras_shapes_and_dtypes(tiny, tmp_path):
    ds, version = tiny
    arrays = keras_arrays("fashion_mnist", ds, version)
    assert {k: (v.dtype.name, v.shape) for k, v in arrays.items()} == {
        "x_train": ("uint8", (120, 28, 28)), "y_train": ("uint8", (120,)),
        "x_test": ("uint8", (40, 28, 28)), "y_test": ("uint8", (40,))}
    import gzip

    with gzip.open(tmp_path / "idx" / "t10k-images-idx3-ubyte.gz") as f:   # the very pixels of the files
        assert np.array_equal(arrays["x_test"].ravel(), np.frombuffer(f.read(), np.uint8, offset=16))


def test_a_dataset_of_other_shapes_is_refused_naming_both(tiny):
    ds, version = tiny
    with pytest.raises(DataError, match=r"entry.keras_datasets.cifar10: dataset tiny v1: expected examples of shape "
                                         r"\(32, 32, 3\) \(Keras's cifar10\), got \(28, 28\)"):
        keras_arrays("cifar10", ds, version)


def test_the_config_names_what_loaders_trainkit_answers(tmp_path):
    (tmp_path / "train.py").write_text("print('hi')\n")
    base = ["entry=script", f"entry.source_dir={tmp_path}", "entry.script=train.py"]
    ok = validate(compose([*base, "+entry.keras_datasets={mnist: fashion_mnist}"]))
    assert ok["entry"]["keras_datasets"] == {"mnist": "fashion_mnist"}
    with pytest.raises(ConfigError) as e:
        validate(compose([*base, "+entry.keras_datasets={imdb: fashion_mnist, mnist: ''}"]))
    assert "entry.keras_datasets.imdb: expected a Keras loader trainkit datasets can answer (mnist, fashion_mnist, " \
           "cifar10, cifar100), got 'imdb'" in str(e.value)
    assert "entry.keras_datasets.mnist: expected the name of a trainkit dataset (like mnist), got ''" in str(e.value)


FAKE_LOADER = """\
def load_data(path="mnist.npz"):
    raise Exception("URL fetch failure on https://storage.example/tf-keras-datasets/mnist.npz: None -- "
                    "[Errno -3] Temporary failure in name resolution")
"""


@pytest.fixture
def fake_keras(tmp_path) -> Path:
    """A stand-in `keras` with Keras 3's layout: keras/src/datasets/<name>.py defines load_data, the
    public keras.datasets.<name> binds it by `from ... import`."""
    root = tmp_path / "site"
    for pkg in ("keras", "keras/src", "keras/src/datasets", "keras/datasets", "keras/datasets/mnist"):
        (root / pkg).mkdir(parents=True, exist_ok=True)
        (root / pkg / "__init__.py").write_text("")
    (root / "keras/src/datasets/mnist.py").write_text(FAKE_LOADER)
    (root / "keras/datasets/mnist/__init__.py").write_text("from keras.src.datasets.mnist import load_data as load_data\n")
    return root


def run_with_hook(code: str, site: Path, mapped: dict) -> subprocess.CompletedProcess:
    env = {**os.environ, ENV: json.dumps(mapped), "PYTHONPATH": os.pathsep.join([str(PATH), str(site)])}
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=env, capture_output=True, text=True,
                          timeout=60)


def test_a_mapped_loader_returns_the_trainkit_dataset(fake_keras, tmp_path):
    arrays = {"x_train": np.arange(2 * 28 * 28, dtype=np.uint8).reshape(2, 28, 28), "y_train": np.array([3, 4], np.uint8),
              "x_test": np.zeros((1, 28, 28), np.uint8), "y_test": np.array([9], np.uint8)}
    write_npz(tmp_path / "mnist.npz", arrays)
    proc = run_with_hook("""
        import keras.datasets.mnist
        (x, y), (xt, yt) = keras.datasets.mnist.load_data()
        print(x.dtype, x.shape, y.tolist(), xt.shape, yt.tolist(), int(x[1, 0, 0]))
    """, fake_keras, {"mnist": {"path": str(tmp_path / "mnist.npz"), "dataset": "fashion_mnist v1"}})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "uint8 (2, 28, 28) [3, 4] (1, 28, 28) [9] 16"
    assert "keras.datasets.mnist.load_data() answered by trainkit dataset fashion_mnist v1 (entry.keras_datasets)" \
        in proc.stderr


def test_an_unmapped_loader_offline_fails_at_once_naming_the_url_and_the_option(fake_keras):
    started = time.monotonic()
    proc = run_with_hook("from keras.datasets import mnist\nmnist.load_data()\n", fake_keras, {})
    assert proc.returncode == 1 and time.monotonic() - started < 30
    last = proc.stderr.strip().splitlines()[-1]
    assert last == ("_trainkit_keras_datasets.KerasDatasetOffline: keras.datasets.mnist.load_data(): could not download "
                    "https://storage.example/tf-keras-datasets/mnist.npz ([Errno -3] Temporary failure in name "
                    "resolution). In a trainkit run, answer it offline from a trainkit dataset: "
                    "entry.keras_datasets={mnist: DATASET} (a dataset of Keras's mnist shapes, e.g. "
                    "entry.keras_datasets={mnist: mnist})")
    assert len(proc.stderr.strip().splitlines()) <= 8 and "During handling" not in proc.stderr   # no chained traceback
