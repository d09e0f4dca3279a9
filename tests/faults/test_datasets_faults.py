"""Issue 15, items 3, 8 and 10 on datasets: a gzip bomb is refused with little memory, a truncated
version file cannot hang registration, and hostile names cannot reach outside the cache. Issue 23
item 5: npz, Parquet and image bombs are refused before they expand, verification streams, and data
too large for memory in a format that cannot stream is a clear error."""
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


def trainkit_with_peak_rss(overrides: list[str], ws: Path) -> dict:
    """`python -m trainkit OVERRIDES` under a fresh parent process (so that RUSAGE_CHILDREN is this
    run's own peak, not earlier tests'): {"rc", "err", "rss_mb"}."""
    probe = ("import resource, subprocess, sys, json; p = subprocess.run(sys.argv[1:], capture_output=True, text=True); "
             "print(json.dumps({'rc': p.returncode, 'err': p.stderr, "
             "'rss_mb': resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024}))")
    out = subprocess.run([sys.executable, "-c", probe, sys.executable, "-m", "trainkit", *overrides],
                         capture_output=True, text=True, cwd=ROOT, env={**os.environ, "TRAINKIT_WORKSPACE": str(ws)},
                         timeout=600)
    return json.loads(out.stdout.strip().splitlines()[-1])


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
    result = trainkit_with_peak_rss([f"dataset.sources=[file://{src}/]", f"dataset.files.0.sha256={sha}",
                                     "run.experiment=bomb"], ws)
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


# ------------------------------------------------------------------ issue 23 item 5: decompression bombs
def npz_of_zeros(path: Path, arrays: dict) -> None:
    """An .npz of zero arrays {key: (shape, dtype)}, written in chunks (never held whole); deflate
    level 1 (zeros still shrink ~230:1, and it takes a third of the default level's time)."""
    import zipfile

    import numpy as np

    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as z:
        for key, (shape, dtype) in arrays.items():
            with z.open(f"{key}.npy", "w", force_zip64=True) as f:
                np.lib.format.write_array_header_1_0(f, {"descr": np.dtype(dtype).str, "fortran_order": False,
                                                         "shape": shape})
                left, zeros = int(np.prod(shape)) * np.dtype(dtype).itemsize, b"\0" * (1 << 24)
                while left > 0:
                    f.write(zeros[:min(left, len(zeros))])
                    left -= len(zeros)


def parquet_of_zeros(path: Path, rows: int) -> None:
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    part = pa.table({"f": np.zeros(1_000_000, np.int8), "label": np.zeros(1_000_000, np.int64)})
    with pq.ParquetWriter(path, part.schema) as w:
        for _ in range(rows // 1_000_000):
            w.write_table(part)


def png_header(width: int, height: int) -> bytes:
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)) + \
        chunk(b"IDAT", zlib.compress(b"\0" * 16)) + chunk(b"IEND", b"")


def verify_in_child(fmt: str, path: Path, **ds) -> dict:
    """`Format.verify` in a fresh process: {"error": message or None, "info": ..., "rss_mb": its peak}.
    The peak is VmHWM, this process image's own: ru_maxrss would carry over the forking parent's
    (pytest's, over 700 MB once it has imported TensorFlow) across exec."""
    code = ("import json, sys\n"
            "from pathlib import Path\n"
            "from trainkit.config.schema import DatasetConfig, from_dict\n"
            "from trainkit.data.formats import get_format\n"
            "ds = from_dict(DatasetConfig, json.loads(sys.argv[3]))\n"
            "out = {'error': None, 'info': None}\n"
            "try:\n"
            "    out['info'] = get_format(sys.argv[1]).verify(Path(sys.argv[2]), 'train', ds)\n"
            "except Exception as e:\n"
            "    out['error'] = f'{type(e).__name__}: {e}'\n"
            "status = open('/proc/self/status').read()\n"
            "out['rss_mb'] = int(status.split('VmHWM:')[1].split()[0]) / 1024\n"
            "print(json.dumps(out))\n")
    cfg = {"name": "b", "format": fmt, "num_classes": 10, "label": "label", **ds}
    proc = subprocess.run([sys.executable, "-c", code, fmt, str(path), json.dumps(cfg)], capture_output=True,
                          text=True, cwd=ROOT, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("fmt", ["npz", "parquet"])
def test_large_files_verify_in_bounded_memory(tmp_path, fmt):
    """Verification streams: 240 MB of npz labels (allowed by an explicit ratio) and a Parquet file of
    50M rows (dictionary-encoded zeros, a few hundred KB) used to be read whole (~480 and 744 MB)."""
    path = tmp_path / f"big.{fmt}"
    if fmt == "npz":
        npz_of_zeros(path, {"x": ((30_000_000,), "uint8"), "y": ((30_000_000,), "int64")})
        out = verify_in_child("npz", path, max_compression_ratio=1e9)
    else:
        parquet_of_zeros(path, 50_000_000)
        out = verify_in_child("parquet", path)
    assert out["error"] is None and out["info"]["records"] == (30_000_000 if fmt == "npz" else 50_000_000), out
    assert out["rss_mb"] < 250, out
    if fmt == "npz":    # at the default ratio the same file is a bomb
        assert "bad array 'x'" in verify_in_child("npz", path)["error"]


def test_images_declaring_too_many_pixels_or_truncated_are_refused(tmp_path):
    """A 65-byte PNG declaring 12000x12000 and a truncated JPEG passed ("every image readable")."""
    from PIL import Image

    import numpy as np

    root = tmp_path / "train"
    (root / "a").mkdir(parents=True)
    Image.fromarray(np.full((16, 16), 7, np.uint8)).save(root / "a" / "0.png")
    assert verify_in_child("image_folder", root)["error"] is None
    (root / "a" / "1.png").write_bytes(png_header(12000, 12000))
    out = verify_in_child("image_folder", root)
    assert out["error"] == (f"DataFormatError: {root / 'a' / '1.png'}: bad image size: expected at most 25000000 "
                            f"pixels (dataset.max_image_pixels), got 12000x12000 = 144000000 pixels"), out
    assert out["rss_mb"] < 200, out
    (root / "a" / "1.png").unlink()
    buf = root / "a" / "2.jpg"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(buf, quality=95)
    buf.write_bytes(buf.read_bytes()[:len(buf.read_bytes()) // 2])
    out = verify_in_child("image_folder", root)
    assert out["error"] and out["error"].startswith(f"DataFormatError: {buf}: bad image: expected a readable"), out
    assert "truncated" in out["error"]


def test_data_too_large_for_memory_in_a_format_that_cannot_stream_is_a_clear_error(monkeypatch):
    """The memory check before loading whole (one seam: the available memory)."""
    from trainkit.data import load
    from trainkit.data.formats import get_format

    monkeypatch.setattr(load, "available_memory", lambda: 4 * 10**9)
    info = {"records": {"train": 2_600_000}, "input_shape": [28, 28]}
    npz = from_dict(DatasetConfig, {"name": "big", "format": "npz", "num_classes": 10})
    with pytest.raises(DataError) as e:
        load.check_fits(npz, get_format("npz"), info, 1)
    assert str(e.value) == ("dataset big: 2600000 examples need ~16.3 GB in memory (2 copies of 8.2 GB of float32), "
                            "this machine has 4.0 GB available: format=npz is read whole and cannot stream; the "
                            "formats that stream are tfrecord, csv, parquet and image_folder (convert the data)")
    csv = from_dict(DatasetConfig, {"name": "big", "format": "csv", "label": "y", "in_memory": "true"})
    with pytest.raises(DataError, match=r"1.0 GB available per process: set dataset.in_memory=auto or false"):
        load.check_fits(csv, get_format("csv"), info, 4)
    load.check_fits(npz, get_format("npz"), {"records": {"train": 60_000}, "input_shape": [28, 28]}, 1)  # fits


def test_an_npz_declaring_2_gb_in_a_few_mb_exits_3_naming_the_file_in_little_memory(tmp_path):
    """The issue's case, end to end as a new user would: an npz of a few MB whose x declares [2.6M, 28, 28]
    uint8 (2 GB of zeros) passed verification and the worker grew to 24 GB. Now `python -m trainkit`
    refuses its header against the member's compressed size: exit 3 naming the file, the array and
    the key, in little memory, nothing left behind."""
    src = tmp_path / "src"
    src.mkdir()
    npz_of_zeros(src / "bomb.npz", {"x": ((2_600_000, 28, 28), "uint8"), "y": ((2_600_000,), "uint8")})
    ws = tmp_path / "ws"
    result = trainkit_with_peak_rss(["dataset.name=bomb", "dataset.format=npz", f"dataset.sources=[file://{src}/]",
                                     "dataset.files=[{name: bomb.npz, role: train, sha256: null}]",
                                     "run.experiment=bomb"], ws)
    assert (src / "bomb.npz").stat().st_size < 10e6          # ~9 MB declaring 2 GB
    assert result["rc"] == 3, result["err"][-2000:]
    assert "bomb.npz: bad array 'x': expected at most" in result["err"] and "Traceback" not in result["err"]
    assert "(dataset.max_compression_ratio x its compressed size, and dataset.max_file_mb), got 2038400000 bytes " \
           "for shape [2600000, 28, 28]" in result["err"]
    assert result["rss_mb"] < 500, result
    assert not list((ws / "datasets" / "blobs").glob("*/*")) and not (ws / "experiments").exists()
