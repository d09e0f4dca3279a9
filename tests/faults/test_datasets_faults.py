"""Issue 15, items 3, 8 and 10 on datasets: a gzip bomb is refused with little memory, a truncated
version file cannot hang registration, and hostile names cannot reach outside the cache."""
from __future__ import annotations

import gzip
import hashlib
import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from trainkit.config.schema import DatasetConfig, from_dict
from trainkit.data.datasets import DatasetStore
from trainkit.errors import DataError
from trainkit.records.workspace import WorkspacePaths

from ..conftest import FASHION, ROOT, write_idx_set

BOMB_BYTES = 2 * 1024 ** 3   # 2 GiB of content


def write_bomb(path: Path) -> str:
    """A valid-looking IDX images header (60000 x 28 x 28, the real Fashion-MNIST dims) followed by
    2 GiB of zeros, gzipped (a few MB); returns the sha256 of its gunzipped content."""
    header = (0x803).to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in (60000, 28, 28))
    h = hashlib.sha256(header)
    zeros = b"\0" * (1 << 24)
    with gzip.open(path, "wb", compresslevel=1) as f:
        f.write(header)
        for _ in range(BOMB_BYTES // len(zeros)):
            f.write(zeros)
            h.update(zeros)
    return h.hexdigest()


@pytest.mark.integration
@pytest.mark.skipif(not FASHION.exists(), reason="needs apt-get install dataset-fashion-mnist")
def test_gzip_bomb_with_a_matching_content_hash_is_refused_with_little_memory(tmp_path):
    src = tmp_path / "mirror"
    src.mkdir()
    for f in FASHION.glob("*.gz"):
        os.symlink(f, src / f.name)
    (src / "train-images-idx3-ubyte.gz").unlink()
    sha = write_bomb(src / "train-images-idx3-ubyte.gz")
    ws = tmp_path / "ws"
    args = [sys.executable, "-m", "trainkit", f"dataset.sources=[file://{src}/]", f"dataset.files.0.sha256={sha}",
            "run.experiment=bomb"]
    # a fresh parent process, so RUSAGE_CHILDREN is the launcher's own peak (not earlier tests' runs)
    probe = ("import resource, subprocess, sys, json; p = subprocess.run(sys.argv[1:], capture_output=True, text=True); "
             "print(json.dumps({'rc': p.returncode, 'err': p.stderr, "
             "'rss_mb': resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024}))")
    out = subprocess.run([sys.executable, "-c", probe, *args], capture_output=True, text=True, cwd=ROOT,
                         env={**os.environ, "TRAINKIT_WORKSPACE": str(ws)}, timeout=600)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["rc"] == 3, result["err"][-2000:]
    assert "train-images-idx3-ubyte.gz: bad byte length: expected 47040016 bytes for dims (60000, 28, 28), got more" \
        in result["err"]
    assert result["rss_mb"] < 300, result                      # was 4.2 GB: the content was read whole
    assert not list((ws / "datasets" / "blobs").glob("*/*")) and not (ws / "experiments").exists()


def tiny_cfg(src: Path, **kw) -> DatasetConfig:
    files = write_idx_set(src)
    roles = {"train-images-idx3-ubyte.gz": "train_images", "train-labels-idx1-ubyte.gz": "train_labels",
             "t10k-images-idx3-ubyte.gz": "test_images", "t10k-labels-idx1-ubyte.gz": "test_labels"}
    return from_dict(DatasetConfig, {"name": "tiny", "sources": [f"file://{src}/"], "num_classes": 10,
                                     "files": [{"name": n, "role": roles[n], "sha256": None} for n in files], **kw})


@pytest.mark.parametrize("leftover", ["", '{"name": "tiny", "vers', "\0\0\0\0"])
def test_a_truncated_version_file_does_not_hang_registration(tmp_path, leftover):
    """A crash (or a full disk) during an old write left v1.json empty or cut: the next
    registration takes v2 from the file names, at once."""
    ws = WorkspacePaths(tmp_path / "ws")
    vdir = ws.datasets / "registry" / "tiny"
    vdir.mkdir(parents=True)
    (vdir / "v1.json").write_text(leftover)
    result = {}
    worker = threading.Thread(target=lambda: result.update(dv=DatasetStore(ws).prepare(tiny_cfg(tmp_path / "src"))),
                              daemon=True)
    worker.start()
    worker.join(timeout=60)
    assert not worker.is_alive(), "registration hung (it looped on the unreadable v1.json)"
    assert result["dv"].version == 2
    assert [v.version for v in DatasetStore(ws).versions("tiny")] == [2]
    assert not [p for p in vdir.iterdir() if p.name.startswith(".")]    # no temporary files left


@pytest.mark.parametrize("name", ["../../victim/notes.txt", "/etc/passwd", "a/b.csv", "..", "x\\y.csv"])
def test_dataset_file_names_must_be_plain_names_inside_the_source(tmp_path, name):
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "notes.txt").write_text("keep me")
    cfg = from_dict(DatasetConfig, {"name": "tiny", "sources": [f"file://{tmp_path}/src/"], "num_classes": 10,
                                    "files": [{"name": name, "role": "train_images", "sha256": "0" * 64}]})
    from trainkit.config.validate import check_config, validate

    from ..conftest import compose

    full = validate(compose())
    full["dataset"]["files"][0]["name"] = name
    assert any(p.startswith("dataset.files[0].name: expected a file name") for p in check_config(full))
    with pytest.raises(DataError, match="dataset.files: expected a file name, a directory name ending in '/'"):
        DatasetStore(WorkspacePaths(tmp_path / "ws")).prepare(cfg)
    assert (victim / "notes.txt").read_text() == "keep me"


@pytest.mark.parametrize("name", ["../x", "a/b", "", "x\n"])
def test_dataset_names_are_refused_before_anything_is_written(tmp_path, name):
    cfg = tiny_cfg(tmp_path / "src")
    cfg.name = name
    with pytest.raises(DataError, match="dataset.name: expected 1-128 letters"):
        DatasetStore(WorkspacePaths(tmp_path / "ws")).prepare(cfg)
    assert not (tmp_path / "ws" / "datasets" / "registry").exists() or \
        not any((tmp_path / "ws" / "datasets" / "registry").iterdir())


@pytest.mark.parametrize("member", ["../../evil.pth", "../escape.txt", "a\\..\\b.txt", "ctl\x07.txt"])
def test_a_listed_member_name_never_writes_outside_the_cache(member, tmp_path):
    """Object stores allow keys like train/../../x: the listing is not trusted, even with a pinned
    sha256 (checked only after the members are written)."""
    import fsspec

    fs = fsspec.filesystem("memory")
    base = f"/hostile-{abs(hash(member))}"
    fs.pipe(f"{base}/train/ok.txt", b"fine")
    fs.pipe(f"{base}/train/{member}", b"import os  # code execution if it lands in site-packages")
    cfg = from_dict(DatasetConfig, {"name": "hostile", "format": "custom", "loader": "x:y", "sources": [f"memory://{base}/"],
                                    "files": [{"name": "train/", "sha256": "0" * 64, "role": "train"}]})
    ws = WorkspacePaths(tmp_path / "ws")
    with pytest.raises(DataError, match=r"lists a member .*expected a relative path inside the entry"):
        DatasetStore(ws).prepare(cfg)
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert not [p for p in written if "evil" in p.name or "escape" in p.name or "ctl" in p.name or "b.txt" in p.name]
    assert not (tmp_path / "evil.pth").exists() and not (tmp_path / "ws" / "evil.pth").exists()
