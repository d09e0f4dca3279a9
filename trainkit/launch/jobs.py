"""Detached cluster jobs, whatever the backend: the job record in status.json, the follow-up
commands a submit prints, and following a job's console until it ends.

A job's id is its run id; status.json (written by trainkit's own driver and workers) is the source
of truth for its state, never the cluster's accounting (`sacct` is often missing)."""
from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Callable

from ..fsutil import read_json
from ..runs import FINISHED, write_status
from ..workspace import RunPaths

EXIT_CODES = {"completed": 0, "pruned": 0, "failed": 1, "cancelled": 130}
# Every worker a cluster driver/supervisor starts: it, not the chief, writes the job's final state
# (see worker.record_error), and output is unbuffered so it streams.
CLUSTER_WORKER_ENV = {"TRAINKIT_LAUNCHER_OWNS_STATE": "1", "PYTHONUNBUFFERED": "1"}


def console_log(paths: RunPaths) -> Path:
    """Everything a job printed, all ranks prefixed (the driver's / supervisor's stdout)."""
    return paths.logs / "console.log"


def record_job(paths: RunPaths, backend: str, **fields) -> dict:
    """Mark the run as a cluster job (state queued until the driver starts it)."""
    job = {"backend": backend, "submitted": time.time(), **fields}   # a resumed run: a new job
    return write_status(paths, "queued", job=job, cancel_requested=None, requeues=0)


def announce(run_id: str, what: str, echo=print) -> None:
    echo(f"submitted job {run_id} ({what})")
    echo(f"  trainkit jobs status {run_id}")
    echo(f"  trainkit jobs logs {run_id} -f")
    echo(f"  trainkit jobs cancel {run_id}")


def is_done(status: dict) -> bool:
    return status.get("state") in FINISHED


def follow(paths: RunPaths, out=None, poll_s: float = 0.5, stop: Callable[[], bool] | None = None,
           offset: int = 0) -> dict:
    """Print the console log as it grows, until the job's state is final (or `stop()`); returns
    the final status. Survives the log not existing yet (a job still pending)."""
    out = out or sys.stdout
    log = console_log(paths)
    checked = 0.0
    while True:
        status = read_json(paths.status, {}) or {}
        done = is_done(status)
        if not done and stop is not None and time.time() - checked > 5:   # e.g. asks squeue: not too often
            checked = time.time()
            done = stop()
            status = read_json(paths.status, {}) or {}
        if log.exists():
            with open(log, "rb") as f:
                f.seek(offset)
                chunk = f.read()
            if chunk:
                offset += len(chunk)
                out.write(chunk.decode(errors="replace"))
                out.flush()
        if done:
            return status
        time.sleep(poll_s)


def exit_code(status: dict) -> int:
    return EXIT_CODES.get(status.get("state"), 1)


def mark_cancelled(paths: RunPaths, reason: str) -> None:
    status = read_json(paths.status, {}) or {}
    if not is_done(status):
        write_status(paths, "cancelled", exit_reason=reason)


FINISHED_OR_GONE = ("completed", "pruned", "failed", "cancelled", "interrupted")


def job_state(run) -> str:
    """A run's state, with a Slurm job that left the queue unreported recorded as failed."""
    status = run.status
    if (status.get("job") or {}).get("backend") == "slurm" and not is_done(status):
        from .slurm import reconcile

        status = reconcile(RunPaths(run.path), status)
        return status.get("state", "failed")
    return run.state
