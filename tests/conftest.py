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


# ------------------------------------------------------------------ running in parallel (pytest-xdist)
# pyproject's addopts run the suite in 2 processes. A group's tests all run in one process, in file
# order: the tests sharing a test cluster (netns: the ssh hosts and the Ray node live in the same
# network namespaces, and a test takes a host's link down; slurm), and each module with an
# expensive module-scoped fixture (built once, not once per process). Groups are sent first,
# longest first, so that neither process is left with a long tail. `-n 0` runs serially.
#
# Groups are read from the test's file (and class), in the controlling process, by the scheduler
# below: xdist's own `xdist_group` marks do not group under pytest 9.2 (pytest-dev/pytest-xdist#1386).
GROUPS = {   # test file, or file::class -> group
    "tests/integration/test_ssh.py": "netns", "tests/faults/test_ssh_faults.py": "netns",
    "tests/integration/test_backends.py::TestSsh": "netns", "tests/integration/test_backends.py::TestRay": "netns",
    "tests/integration/test_data.py": "data",
    "tests/integration/test_slurm.py": "slurm", "tests/integration/test_backends.py::TestSlurm": "slurm",
    "tests/integration/test_serve.py": "serve",
    "tests/integration/test_distribution.py": "distribution",
    "tests/integration/test_ui_browser.py": "browser",
    "tests/integration/test_project.py": "project",
    "tests/integration/test_export_matrix.py": "matrix",
    "tests/integration/test_migrate_smoke.py": "migrate-smoke",
    "tests/integration/test_mlflow.py": "mlflow",
}
ORDER = list(dict.fromkeys(GROUPS.values()))     # longest first


def group_of(nodeid: str) -> str | None:
    path, _, rest = nodeid.partition("::")
    return GROUPS.get(f"{path}::{rest.split('::')[0]}") or GROUPS.get(path)


def pytest_collection_modifyitems(config, items):
    rank = {g: i for i, g in enumerate(ORDER)}
    items.sort(key=lambda item: rank.get(group_of(item.nodeid), len(ORDER)))   # stable: file order within


def pytest_xdist_make_scheduler(config, log):
    """xdist's scope scheduling with GROUPS as the scopes; every other test is a scope of its own."""
    if config.getvalue("dist") not in ("load", "loadgroup"):
        return None
    from xdist.scheduler import LoadScopeScheduling

    class GroupScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return group_of(nodeid) or nodeid

    return GroupScheduling(config, log)


# ------------------------------------------------------------------ no unexpected skip under CI
# A skip hides a broken feature as well as a missing tool, so under CI (CI=true: .ci/run exports
# it) every skip fails the session unless its test is allow-listed here, with the reason it may
# skip there. Allowed skips that happened are printed at the end. Keep this list short.
SKIP_ALLOWED: dict[str, str] = {   # node id (or its file, or file::class) -> why CI may skip it
}


def on_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def skip_allowed(nodeid: str) -> str | None:
    path, _, rest = nodeid.partition("::")
    keys = (nodeid, f"{path}::{rest.split('::')[0]}", path)
    return next((SKIP_ALLOWED[k] for k in keys if k in SKIP_ALLOWED), None)


class SkipGuard:
    """Collects every skip (from both xdist processes: the controller sees all reports) and, under
    CI, fails the session for those not allow-listed."""

    def __init__(self) -> None:
        self.skips: dict[str, str] = {}        # node id -> reason

    def pytest_runtest_logreport(self, report) -> None:
        self.note(report)

    def pytest_collectreport(self, report) -> None:
        self.note(report)

    def note(self, report) -> None:
        if report.skipped and not hasattr(report, "wasxfail"):
            longrepr = report.longrepr
            reason = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
            self.skips[report.nodeid] = reason.removeprefix("Skipped: ")

    def unexpected(self) -> dict[str, str]:
        return {n: r for n, r in self.skips.items() if skip_allowed(n) is None}

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session, exitstatus) -> None:
        if on_ci() and self.unexpected() and exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def pytest_terminal_summary(self, terminalreporter) -> None:
        write = terminalreporter.write_line
        allowed = {n: skip_allowed(n) for n in self.skips if skip_allowed(n) is not None}
        for nodeid, why in allowed.items():
            write(f"allowed skip: {nodeid} ({why})")
        unexpected = self.unexpected()
        if on_ci() and unexpected:
            terminalreporter.section("skips are failures under CI", sep="=", red=True, bold=True)
            for nodeid, reason in unexpected.items():
                write(f"SKIPPED (not allowed under CI): {nodeid}: {reason}", red=True)
            write(f"{len(unexpected)} unexpected skip(s): fix them or allow-list them in tests/conftest.py "
                  "SKIP_ALLOWED with a reason", red=True, bold=True)


def pytest_configure(config):
    if not hasattr(config, "workerinput"):     # the controlling process (or the only one with -n 0)
        config.pluginmanager.register(SkipGuard(), "trainkit-skip-guard")


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


def wait_until(pred, timeout: float, what: str, poll: float = 0.02):
    """pred()'s first truthy value, polled; AssertionError naming `what` after `timeout` seconds."""
    import time

    deadline = time.monotonic() + timeout
    while not (value := pred()):
        assert time.monotonic() < deadline, f"timed out after {timeout:g} s waiting for {what}"
        time.sleep(poll)
    return value


def max_overlap(intervals: list[tuple[float, float]]) -> int:
    """The most intervals that were open at one instant: >= 2 proves the processes really raced."""
    events = sorted([(start, 1) for start, _ in intervals] + [(end, -1) for _, end in intervals])
    most = open_ = 0
    for _, step in events:
        open_ += step
        most = max(most, open_)
    return most
