"""Every strategy as real processes on this machine (2 CPU cores, no GPU), on a Fashion-MNIST subset:
it completes and registers a model, matches the single-process loss, and survives a killed worker."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ..conftest import FASHION, ROOT, run_cli, run_trainkit

HAVE_HOROVOD = Path(sys.executable).with_name("horovodrun").exists()
pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(not FASHION.exists(), reason="needs apt-get install dataset-fashion-mnist")]
needs_horovod = pytest.mark.skipif(not HAVE_HOROVOD, reason="needs bash scripts/build_horovod.sh")

SUBSET = ["+debug=smoke", "dataset.limit_train=3000", "trainer.batch_size=64", "trainer.epochs=3"]
DISTRIBUTIONS = {
    "mirrored": ["distribution=mirrored", "distribution.logical_cpus=2"],
    "multi_worker_mirrored": ["distribution=multi_worker_mirrored", "distribution.workers=2"],
    "parameter_server": ["distribution=parameter_server", "distribution.workers=2", "distribution.ps=1"],
    "horovod": ["distribution=horovod", "distribution.processes=2"],
    "horovod_one": ["distribution=horovod", "distribution.processes=1"],
}


def train(name: str, overrides: list[str]) -> dict:
    proc = run_trainkit(SUBSET + [f"run.experiment={name}"] + overrides)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    [run] = json.loads(run_cli(["runs", "list", "--experiment", name, "--json"]).stdout)
    details = json.loads(run_cli(["runs", "show", run["id"], "--json"]).stdout)
    return {**details, "stdout": proc.stdout}


@pytest.fixture(scope="module")
def single(tmp_path_factory) -> dict:
    """The single-process reference run, once for all strategies."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TRAINKIT_WORKSPACE", str(tmp_path_factory.mktemp("single-ws")))
        return train("single", ["distribution=single"])


@pytest.mark.parametrize("strategy", [
    "mirrored", "multi_worker_mirrored", "parameter_server", pytest.param("horovod", marks=needs_horovod),
    pytest.param("horovod_one", marks=needs_horovod)])
def test_strategy_completes_registers_and_matches_single(strategy, single, workspace):
    d = train(strategy, DISTRIBUTIONS[strategy])
    assert d["status"] == "completed"
    entry = json.loads(run_cli(["models", "show", strategy, "--json"]).stdout)
    assert entry["version"] == 1 and entry["onnx"]["status"] == "ok" and entry["run_id"] == d["id"]
    run = Path(d["path"])
    assert [h["epoch"] for h in d["history"]] == [1, 2, 3]              # one writer: one line per epoch
    loss, ref = d["history"][0]["loss"], single["history"][0]["loss"]
    if strategy == "parameter_server":
        # asynchronous updates, unseeded per-worker order: it learns (chance is 0.10), in the same
        # accuracy band, not to the same loss. Staleness grows when the 2 cores are contended: one
        # CI run was 0.057 below single after 3 epochs, so the band is 0.10.
        acc, ref_acc = d["metrics"]["test_accuracy"], single["metrics"]["test_accuracy"]
        assert acc > 0.6 and abs(acc - ref_acc) < 0.10, (d["metrics"], single["metrics"])
    elif strategy == "horovod_one":   # Horovod at one process runs single's code path: the same numbers
        assert [h["loss"] for h in d["history"]] == pytest.approx([h["loss"] for h in single["history"]], rel=1e-6)
    else:
        assert abs(loss - ref) / ref < 1e-3, (loss, ref)
    if strategy in ("multi_worker_mirrored", "parameter_server", "horovod"):
        rank1 = (run / "logs" / "rank-1.log").read_text()
        assert rank1.strip(), "rank 1 wrote nothing to its log"
        assert "[rank 1] " in d["stdout"]                               # streamed with a rank prefix
        assert "[rank 1]" not in (run / "logs" / "stdout.log").read_text()   # chief's log is the chief's


def worker_pid(run_dir_marker: str, rank: int) -> int | None:
    """The pid of the trainkit.worker process of `rank` (TRAINKIT_RANK or HOROVOD_RANK)."""
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"trainkit.worker" in cmdline and run_dir_marker.encode() in cmdline and b"horovodrun" not in cmdline:
            env = dict(e.split(b"=", 1) for e in environ if b"=" in e)
            if int(env.get(b"HOROVOD_RANK", env.get(b"TRAINKIT_RANK", b"-1"))) == rank:
                return int(pid)
    return None


def workers_alive(marker: str) -> list[str]:
    out = subprocess.run(["ps", "-eo", "pid,args"], capture_output=True, text=True).stdout
    return [line for line in out.splitlines() if "trainkit.worker" in line and marker in line]


@pytest.mark.parametrize("strategy", [pytest.param("horovod", marks=needs_horovod)])
def test_killing_one_worker_stops_the_job_then_rerun_resumes(strategy, workspace):
    """Blocking, under horovodrun (MultiWorkerMirrored detached: TestLocal in test_backends.py)."""
    name = f"kill-{strategy}"
    args = SUBSET + [f"run.experiment={name}", "trainer.epochs=6", "dataset.limit_train=12000"] + DISTRIBUTIONS[strategy]
    proc = subprocess.Popen([sys.executable, "-m", "trainkit", *args], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    runs = workspace / "experiments" / name / "runs"
    deadline, epoch = time.time() + 240, 0
    while time.time() < deadline and epoch < 2:
        files = list(runs.glob("*/status.json")) if runs.exists() else []
        epoch = json.loads(files[0].read_text() or "{}").get("epoch", 0) if files else 0
        time.sleep(0.1)
    assert epoch >= 2, "never reached epoch 2"
    [run_dir] = list(runs.iterdir())
    pid = worker_pid(run_dir.name, 1)
    assert pid, "rank 1 not found"
    os.kill(pid, signal.SIGKILL)
    killed = time.time()
    out, _ = proc.communicate(timeout=120)
    assert time.time() - killed < 60, "the job did not stop within a bounded time"
    assert proc.returncode != 0
    status = json.loads((run_dir / "status.json").read_text())
    assert status["state"] == "failed" and status["failed_rank"] == 1
    assert "worker rank 1 failed with signal SIGKILL" in status["exit_reason"]
    assert status["last_log_lines"], "the failure report has no log lines"
    time.sleep(1)
    assert workers_alive(run_dir.name) == []                            # no orphans

    again = run_trainkit(args)
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    assert f"resuming run {run_dir.name}" in again.stdout
    history = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [h["epoch"] for h in history] == list(range(1, 7))            # no lost or repeated epoch
    assert workers_alive(run_dir.name) == []
