"""Offline-first, for real: a dataset registered from a file:// directory or from an HTTP server on
127.0.0.1, whose source then goes away (directory deleted, server shut down). `python -m trainkit`
trains on the cached registered version with a warning naming it and records the fallback;
dataset.offline=error exits 3 naming the sources tried and suggesting dataset.version=N."""
from __future__ import annotations

import functools
import json
import re
import shutil
import threading
from http.server import ThreadingHTTPServer
from pathlib import Path

import pytest

from ..conftest import run_cli, run_trainkit, write_idx_set
from ..unit.test_datasets import ROLES, _QuietHandler

pytestmark = pytest.mark.integration

TRAIN = ["trainer.epochs=1", "dataset.validation_size=50", "registry.enabled=false", "model.hidden=[32]"]


def dataset_args(name: str, source: str, prefix: str = "") -> list[str]:
    """A small IDX dataset NAME from `source`, every sha256 recorded on first fetch."""
    return [f"{prefix}name={name}", f"{prefix}sources=[{source}]",
            *(f"{prefix}files.{i}.sha256=null" for i in range(len(ROLES)))]


class Gone:
    """A source that works for the registration, then goes away."""

    def __init__(self, kind: str, tmp: Path):
        self.kind, self.dir = kind, tmp / "src"
        write_idx_set(self.dir, n_train=300, n_test=60)
        if kind == "http":
            self.server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(self.dir)))
            threading.Thread(target=self.server.serve_forever, daemon=True).start()
            self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"
        else:
            self.url = f"file://{self.dir}/"

    def go(self) -> None:
        if self.kind == "http":
            self.server.shutdown()
            self.server.server_close()     # connection refused from now on
        else:
            shutil.rmtree(self.dir)


@pytest.mark.parametrize("kind", ["file", "http"])
def test_a_gone_source_trains_on_the_cached_version_and_offline_error_fails_suggesting_it(kind, tmp_path, workspace):
    name = f"offline_{kind}"
    source = Gone(kind, tmp_path)
    registered = run_cli(["datasets", "register", "fashion_mnist", *dataset_args(name, source.url)])
    assert registered.returncode == 0 and f"registered dataset {name} v1 (idx, train=300 test=60)" in registered.stdout
    source.go()
    args = ["dataset=fashion_mnist", *dataset_args(name, source.url, "dataset."), *TRAIN]

    refused = run_trainkit([*args, "dataset.offline=error"])
    assert refused.returncode == 3, refused.stderr[-3000:]
    assert f"error: dataset '{name}': every mirror failed for train-images-idx3-ubyte.gz:\n" \
           f"  - {source.url}train-images-idx3-ubyte.gz: " in refused.stderr
    assert f"hint: the sources are unreachable; dataset.version=1 trains on the registered {name} v1" in refused.stderr
    assert not (workspace / "experiments").exists() or not any((workspace / "experiments").rglob("job_spec.json"))

    proc = run_trainkit(args)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    [warning] = [line for line in proc.stderr.splitlines() if line.startswith("warning: dataset")]
    assert warning.startswith(f"warning: dataset {name}: its sources are unreachable ({source.url}train-images-idx3-ubyte.gz: ")
    assert f"training on its newest registered version in the cache, {name} v1 (digest " in warning
    run = json.loads(run_cli(["runs", "show", re.search(r"run (\S+) completed", proc.stdout).group(1), "--json"]).stdout)
    assert (run["dataset"]["name"], run["dataset"]["version"]) == (name, 1) and run["metrics"]["test_accuracy"] >= 0
    spec = json.loads((Path(run["path"]) / "job_spec.json").read_text())
    assert spec["dataset"]["offline"]["fallback"] is True and spec["config"]["dataset"]["version"] is None
