"""Offline-first datasets (DatasetStore.for_run): an unpinned dataset whose sources are all unreachable
trains on its newest registered version in the cache, with a warning; dataset.offline=error, data
that arrives but fails its checks, a config the cached version does not match and a version whose
files left the cache all still fail, the unreachable cases suggesting dataset.version=N."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from trainkit.config.schema import DatasetConfig, from_dict
from trainkit.data.datasets import OFFLINE_HINT, DatasetStore
from trainkit.errors import MirrorsExhaustedError
from trainkit.records.workspace import WorkspacePaths

from ..conftest import write_idx_set
from .test_datasets import ROLES


def config(source: Path, **more) -> DatasetConfig:
    return from_dict(DatasetConfig, {"name": "tiny", "sources": [f"file://{source}/"], "num_classes": 10,
                                     "files": [{"name": n, "role": r, "sha256": None} for n, r in ROLES.items()],
                                     **more})


@pytest.fixture
def registered(tmp_path):
    """tiny v1 registered from tmp/src, then the source directory deleted."""
    store = DatasetStore(WorkspacePaths(tmp_path / "ws"))
    write_idx_set(tmp_path / "src")
    v1 = store.prepare(config(tmp_path / "src"))
    shutil.rmtree(tmp_path / "src")
    return store, v1, tmp_path / "src"


def test_a_gone_source_trains_on_the_cached_version_and_says_so_once(registered):
    store, v1, src = registered
    warnings = []
    got = store.for_run(config(src), warn=warnings.append)
    assert (got["name"], got["version"], got["digest"]) == ("tiny", 1, v1.digest)
    assert all(Path(f["path"]).is_file() for units in got["files"].values() for f in units)
    [warning] = warnings
    assert warning.startswith(f"dataset tiny: its sources are unreachable (file://{src}/train-images-idx3-ubyte.gz: "
                              "FileNotFoundError") and "newest registered version in the cache, tiny v1 (digest " in warning
    assert "dataset.offline=error fails instead; dataset.version=1 pins it" in warning
    assert got["offline"]["fallback"] is True and got["offline"]["attempts"][0][0] == f"file://{src}/train-images-idx3-ubyte.gz"


def test_offline_error_fails_naming_the_sources_and_suggesting_the_cached_version(registered):
    store, _, src = registered
    with pytest.raises(MirrorsExhaustedError) as err:
        store.for_run(config(src, offline="error"), warn=pytest.fail)
    assert f"- file://{src}/train-images-idx3-ubyte.gz: FileNotFoundError" in str(err.value)
    assert "hint: the sources are unreachable; dataset.version=1 trains on the registered tiny v1" in str(err.value)
    assert store.for_run(config(src, version=1), warn=pytest.fail)["version"] == 1    # and the hint works


def test_data_that_arrives_and_fails_its_checks_is_still_an_error(registered, tmp_path):
    store, _, src = registered
    src.mkdir()
    for name in ROLES:
        (src / name).write_bytes(b"\x1f\x8b\x08\x00 not really gzip")
    with pytest.raises(MirrorsExhaustedError, match="bad gzip stream") as err:
        store.for_run(config(src), warn=pytest.fail)
    assert err.value.unreachable is False and "hint" not in str(err.value)


def test_no_fallback_to_a_version_the_config_does_not_describe_or_whose_files_left_the_cache(registered):
    store, v1, src = registered
    other = config(src)
    other.files[0].sha256 = "0" * 64                                   # pinned to other content
    with pytest.raises(MirrorsExhaustedError, match="hint: offline, use dataset=fashion_mnist"):
        store.for_run(other, warn=pytest.fail)
    assert OFFLINE_HINT.startswith("hint: offline")
    shutil.rmtree(Path(v1.files["train_images"][0]["path"]).parent)       # one entry's cached copy gone
    with pytest.raises(MirrorsExhaustedError, match="hint: offline, use dataset=fashion_mnist"):
        store.for_run(config(src), warn=pytest.fail)
