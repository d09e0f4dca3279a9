"""FileDataset: mirror fallback against a real HTTP server on 127.0.0.1, checksums, versions."""
from __future__ import annotations

import functools
import gzip
import hashlib
import socket
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

from trainkit.config.schema import DatasetConfig, from_dict
from trainkit.data.datasets import DatasetStore
from trainkit.errors import MirrorsExhaustedError
from trainkit.records.workspace import WorkspacePaths

from ..conftest import FASHION, write_idx_set

ROLES = {"train-images-idx3-ubyte.gz": "train_images", "train-labels-idx1-ubyte.gz": "train_labels",
         "t10k-images-idx3-ubyte.gz": "test_images", "t10k-labels-idx1-ubyte.gz": "test_labels"}


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture
def http_root(tmp_path):
    """A real HTTP server on 127.0.0.1 serving tmp_path/www; yields (base URL, directory)."""
    www = tmp_path / "www"
    www.mkdir()
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(www)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", www
    server.shutdown()
    server.server_close()


def dead_url() -> str:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens here now: connection refused
    return f"http://127.0.0.1:{port}/mnist/"


def dataset_cfg(files: dict[str, Path], sources: list[str], name: str = "tiny", **more) -> DatasetConfig:
    return from_dict(DatasetConfig, {
        "name": name, "description": "test", "sources": sources, "num_classes": 10, "download_timeout_s": 5.0,
        "files": [{"name": n, "role": ROLES[n], "sha256": hashlib.sha256(p.read_bytes()).hexdigest()}
                  for n, p in files.items()], **more})


def test_falls_back_past_a_down_mirror_and_a_wrong_bytes_mirror(tmp_path, http_root):
    base, www = http_root
    good = write_idx_set(www / "good")
    wrong = write_idx_set(www / "wrong", seed=99)          # valid IDX, different bytes
    cfg = dataset_cfg(good, [dead_url(), f"{base}/wrong/", f"{base}/good/"])
    calls = []
    dv = DatasetStore(WorkspacePaths(tmp_path / "ws")).prepare(cfg, lambda url, done, total: calls.append(url))
    assert dv.version == 1
    for name, f in good.items():
        [entry] = dv.files[ROLES[name]]
        assert entry["source"] == f"{base}/good/{name}"
        assert Path(entry["path"]).read_bytes() == f.read_bytes()
    assert any(u.startswith(f"{base}/wrong/") for u in calls)  # it really downloaded the bad mirror
    assert not wrong["t10k-labels-idx1-ubyte.gz"].samefile(dv.files["test_labels"][0]["path"])


def test_every_mirror_failing_is_one_error_listing_each_url_and_nothing_is_cached(tmp_path, http_root):
    base, www = http_root
    good = write_idx_set(tmp_path / "truth")
    write_idx_set(www / "wrong", seed=7)
    (www / "corrupt").mkdir()
    for name in good:
        (www / "corrupt" / name).write_bytes(b"\x1f\x8b\x08\x00 not really gzip")
    down = dead_url()
    cfg = dataset_cfg(good, [down, f"{base}/wrong/", f"{base}/corrupt/", f"{base}/missing/"])
    ws = WorkspacePaths(tmp_path / "ws")
    with pytest.raises(MirrorsExhaustedError) as err:
        DatasetStore(ws).prepare(cfg)
    msg = str(err.value)
    first = next(iter(good))
    assert f"{down}{first}: ConnectionError" in msg
    assert f"{base}/wrong/{first}: downloaded {first}: sha256 mismatch: expected {cfg.files[0].sha256}" in msg
    assert f"{base}/corrupt/{first}: downloaded {first}: bad gzip stream" in msg
    assert f"{base}/missing/{first}: OSError: HTTP 404" in msg
    assert [p for p in ws.blobs.rglob("*") if p.is_file()] == []  # nothing unverified is cached
    assert DatasetStore(ws).versions("tiny") == []


def test_same_content_same_version_new_content_new_version(tmp_path):
    ws = WorkspacePaths(tmp_path / "ws")
    v1_files = write_idx_set(tmp_path / "v1")
    v2_files = write_idx_set(tmp_path / "v2", seed=5)
    store = DatasetStore(ws)
    a = store.prepare(dataset_cfg(v1_files, [f"file://{tmp_path}/v1/"]))
    b = store.prepare(dataset_cfg(v1_files, [f"file://{tmp_path}/v1/"]))
    c = store.prepare(dataset_cfg(v2_files, [f"file://{tmp_path}/v2/"]))
    assert (a.version, b.version, c.version) == (1, 1, 2)
    assert a.digest == b.digest != c.digest
    assert [v.version for v in store.versions("tiny")] == [1, 2]
    assert store.get("tiny").version == 2 and store.get("tiny", 1).digest == a.digest


def test_content_checksum_accepts_a_recompressed_mirror(tmp_path):
    files = write_idx_set(tmp_path / "orig")
    cfg = dataset_cfg(files, [f"file://{tmp_path}/re/"])
    (tmp_path / "re").mkdir()
    for f in cfg.files:  # declare the gunzipped content's sha256, serve a different gzip of it
        content = gzip.decompress(files[f.name].read_bytes())
        f.sha256 = hashlib.sha256(content).hexdigest()
        (tmp_path / "re" / f.name).write_bytes(gzip.compress(content, compresslevel=1, mtime=123))
    dv = DatasetStore(WorkspacePaths(tmp_path / "ws")).prepare(cfg)
    assert dv.version == 1


def test_damaged_cache_entry_is_fetched_again(tmp_path):
    files = write_idx_set(tmp_path / "src")
    store = DatasetStore(WorkspacePaths(tmp_path / "ws"))
    cfg = dataset_cfg(files, [f"file://{tmp_path}/src/"])
    dv = store.prepare(cfg)
    blob = Path(dv.files["train_images"][0]["path"])
    blob.write_bytes(b"damaged")
    dv2 = store.prepare(cfg)
    assert Path(dv2.files["train_images"][0]["path"]).read_bytes() == files["train-images-idx3-ubyte.gz"].read_bytes()


@pytest.mark.skipif(not FASHION.exists(), reason="needs apt-get install dataset-fashion-mnist")
def test_configured_fashion_mnist_checksums_match_the_debian_files(tmp_path):
    from ..conftest import compose
    from trainkit.config.validate import validate

    cfg = validate(compose())["dataset"]
    cfg["sources"] = cfg["sources"][:1]   # offline: only the Debian path
    dv = DatasetStore(WorkspacePaths(tmp_path / "ws")).prepare(from_dict(DatasetConfig, cfg))
    assert dv.files["train_images"][0]["source"].startswith("file:///usr/share/datasets/fashion-mnist/")
    assert dv.info["records"] == {"train": 60000, "test": 10000} and dv.info["input_shape"] == [28, 28]


def test_directory_and_glob_entries_with_null_sha256_are_versioned_by_their_manifest(tmp_path):
    """sha256: null = computed on first fetch; the same files give the same version, a changed file
    a new one; unchanged local files are recognised by their stat, not read again."""
    src = tmp_path / "src"
    for split, n in (("train", 3), ("test", 2)):
        for i in range(n):
            (src / "shards").mkdir(parents=True, exist_ok=True)
            np.savez(src / "shards" / f"{split}-{i}.npz", x=np.full((4, 3), i, np.uint8), y=np.arange(4) % 2)
    cfg = from_dict(DatasetConfig, {"name": "shards", "format": "npz", "sources": [f"file://{src}/shards/"],
                                    "num_classes": 2,
                                    "files": [{"role": "train", "name": "train-*.npz", "sha256": None},
                                              {"role": "test", "name": "test-*.npz", "sha256": None}]})
    store = DatasetStore(WorkspacePaths(tmp_path / "ws"))
    a = store.prepare(cfg)
    assert [Path(m["path"]).name for m in a.files["train"]] == ["train-0.npz", "train-1.npz", "train-2.npz"]
    assert a.info["records"] == {"train": 12, "test": 8} and a.info["input_shape"] == [3]
    assert len(a.entries[0]["sha256"]) == 64 and a.entries[0]["sha256"] != a.entries[1]["sha256"]
    assert store.prepare(cfg).version == 1
    np.savez(src / "shards" / "train-1.npz", x=np.full((4, 3), 9, np.uint8), y=np.arange(4) % 2)
    b = store.prepare(cfg)
    assert b.version == 2 and b.entries[0]["sha256"] != a.entries[0]["sha256"]
    pinned = from_dict(DatasetConfig, {**cfg.__dict__, "files": [
        {"role": "train", "name": "train-*.npz", "sha256": a.entries[0]["sha256"]},
        {"role": "test", "name": "test-*.npz", "sha256": None}]})
    assert store.prepare(pinned).version == 1          # cached by its digest: the old content, not the source


def test_identical_bytes_under_two_names_never_delete_each_others_cached_copy(tmp_path):
    """Issue 23 item 4: two entries with the same bytes under different names used to share
    blobs/<sha256>/, and preparing one deleted the other's copy (a running job lost its data)."""
    src = tmp_path / "src"
    src.mkdir()
    rng = np.random.default_rng(0)
    np.savez(src / "x.npz", x=rng.integers(0, 255, (50, 28, 28), dtype=np.uint8), y=rng.integers(0, 10, 50))
    (src / "y.npz").write_bytes((src / "x.npz").read_bytes())
    store = DatasetStore(WorkspacePaths.at(tmp_path / "ws"))

    def cfg(name: str, file: str) -> DatasetConfig:
        return from_dict(DatasetConfig, {"name": name, "format": "npz", "sources": [f"file://{src}/"], "num_classes": 10,
                                         "files": [{"name": file, "role": "train", "sha256": None}]})

    a, b = cfg("a", "x.npz"), cfg("b", "y.npz")
    path_a = Path(store.fetch_entry(a, a.files[0])["path"])
    inode = path_a.stat().st_ino
    path_b = Path(store.fetch_entry(b, b.files[0])["path"])
    assert path_a.exists() and path_b.exists() and path_a != path_b
    again = Path(store.fetch_entry(a, a.files[0])["path"])
    assert again == path_a and again.stat().st_ino == inode            # reused, not fetched again
    assert Path(store.fetch_entry(b, b.files[0])["path"]).stat().st_ino == path_b.stat().st_ino


def test_a_symbolic_link_in_a_local_dataset_directory_is_refused_not_followed(tmp_path):
    """Issue 23 item 7: a link in a dataset directory made any readable file (a key) part of the
    dataset, its cache and every host it is shipped to."""
    from trainkit.errors import DataError

    src = tmp_path / "src"
    (src / "shards").mkdir(parents=True)
    np.savez(src / "shards" / "train-0.npz", x=np.zeros((4, 3), np.uint8), y=np.arange(4) % 2)
    (tmp_path / "secret.npz").write_bytes((src / "shards" / "train-0.npz").read_bytes())
    (src / "shards" / "train-1.npz").symlink_to(tmp_path / "secret.npz")
    store = DatasetStore(WorkspacePaths.at(tmp_path / "ws"))
    for name in ("shards/", "train-*.npz"):
        source = f"file://{src}/" if name.endswith("/") else f"file://{src}/shards/"
        cfg = from_dict(DatasetConfig, {"name": "d", "format": "npz", "sources": [source], "num_classes": 2,
                                        "files": [{"role": "train", "name": name, "sha256": None}]})
        with pytest.raises(DataError, match=r"train-1.npz: expected a regular file in the dataset directory, got a "
                                            r"symbolic link to .*secret.npz"):
            store.prepare(cfg)
    assert not list((tmp_path / "ws").rglob("*secret*")) and not list((tmp_path / "ws").rglob("train-1.npz"))
