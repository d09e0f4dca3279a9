"""Shared fixtures: an isolated workspace, tiny real IDX files, and composing the real config tree."""
from __future__ import annotations

import gzip
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
FASHION = Path("/usr/share/datasets/fashion-mnist")


@pytest.fixture
def workspace(tmp_path, monkeypatch) -> Path:
    ws = tmp_path / "ws"
    monkeypatch.setenv("TRAINKIT_WORKSPACE", str(ws))
    return ws


def idx_bytes(array: np.ndarray, magic: int) -> bytes:
    header = magic.to_bytes(4, "big") + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    return header + array.astype(np.uint8).tobytes()


def write_idx_set(directory: Path, n_train: int = 120, n_test: int = 40, seed: int = 0) -> dict[str, Path]:
    """Four small, valid, gzipped IDX files (random pixels, labels 0..9)."""
    rng = np.random.default_rng(seed)
    directory.mkdir(parents=True, exist_ok=True)
    arrays = {
        "train-images-idx3-ubyte.gz": (rng.integers(0, 256, (n_train, 28, 28)), 0x803),
        "train-labels-idx1-ubyte.gz": (rng.integers(0, 10, (n_train,)), 0x801),
        "t10k-images-idx3-ubyte.gz": (rng.integers(0, 256, (n_test, 28, 28)), 0x803),
        "t10k-labels-idx1-ubyte.gz": (rng.integers(0, 10, (n_test,)), 0x801),
    }
    out = {}
    for name, (arr, magic) in arrays.items():
        path = directory / name
        path.write_bytes(gzip.compress(idx_bytes(arr, magic), mtime=0))
        out[name] = path
    return out


def compose(overrides: list[str] | None = None):
    from hydra import compose as hydra_compose
    from hydra import initialize_config_module
    from hydra.core.global_hydra import GlobalHydra

    from trainkit.config.store import register_configs

    register_configs()
    GlobalHydra.instance().clear()
    with initialize_config_module("trainkit.conf", version_base="1.3"):
        return hydra_compose("config", overrides=overrides or [])


def run_trainkit(args: list[str], env: dict | None = None, timeout: float = 600, cwd: Path = ROOT,
                 **kw) -> subprocess.CompletedProcess:
    full_env = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, "-m", "trainkit", *args], capture_output=True, text=True,
                          env=full_env, timeout=timeout, cwd=cwd, **kw)


def run_cli(args: list[str], env: dict | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "trainkit.cli", *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=timeout, cwd=ROOT)


def wait_ready(go: Path, n: int, timeout: float = 60) -> None:
    """Wait until n child processes have written `<go>.ready-<pid>` (imported and spinning on `go`)."""
    import time

    deadline = time.time() + timeout
    while len(list(go.parent.glob(f"{go.name}.ready-*"))) < n:
        assert time.time() < deadline, f"only {len(list(go.parent.glob(f'{go.name}.ready-*')))} of {n} children ready"
        time.sleep(0.01)


def max_overlap(intervals: list[tuple[float, float]]) -> int:
    """The most intervals that were open at one instant: >= 2 proves the processes really raced."""
    events = sorted([(start, 1) for start, _ in intervals] + [(end, -1) for _, end in intervals])
    most = open_ = 0
    for _, step in events:
        open_ += step
        most = max(most, open_)
    return most
