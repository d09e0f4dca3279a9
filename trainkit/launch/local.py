"""Run every worker as a child process on this machine, streaming and capturing their output."""
from __future__ import annotations

import ctypes
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO, Callable

from ..runs import write_status
from ..spec import JobSpec
from ..workspace import RunPaths
from .base import Launcher

GRACE_S = 10.0          # after one worker fails: how long the others get to exit on SIGTERM
PROGRESS = "@@progress "


def _die_with_parent() -> None:  # pragma: no cover - runs in the child before exec
    """Linux: SIGKILL this child if the launcher dies, so a killed launcher leaves no orphans."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def worker_env(spec: JobSpec, rank: int) -> dict:
    env = dict(os.environ)
    env.update({k: str(v) for k, v in spec.config["environment"].get("env_vars", {}).items()})
    env.update(TRAINKIT_RANK=str(rank), TRAINKIT_WORLD_SIZE=str(spec.world_size),
               TRAINKIT_LOCAL_RANK=str(rank), PYTHONUNBUFFERED="1",
               PYTHONPATH=os.pathsep.join(filter(None, [spec.project_root, env.get("PYTHONPATH")])))
    return env


class OutputPump:
    """Copies a worker's lines to its log file and the console; progress lines go to a callback."""

    def __init__(self, stream: IO[bytes], log: IO[str], echo: IO[str], prefix: str,
                 on_progress: Callable[[dict], None] | None, tail: list[str]):
        self.thread = threading.Thread(target=self._run, args=(stream, log, echo, prefix, on_progress, tail),
                                       daemon=True)
        self.thread.start()

    @staticmethod
    def _run(stream, log, echo, prefix, on_progress, tail) -> None:
        for raw in iter(stream.readline, b""):
            line = raw.decode(errors="replace")
            if line.startswith(PROGRESS):
                if on_progress:
                    try:
                        on_progress(json.loads(line[len(PROGRESS):]))
                    except ValueError:
                        pass
                continue
            log.write(line)
            log.flush()
            tail.append(line.rstrip("\n"))
            del tail[:-20]
            echo.write(prefix + line)
            echo.flush()


class LocalLauncher(Launcher):
    def launch(self, spec: JobSpec) -> int:
        paths = RunPaths(Path(spec.run_dir))
        paths.logs.mkdir(parents=True, exist_ok=True)
        procs: list[subprocess.Popen] = []
        pumps: list[OutputPump] = []
        tails: dict[int, list[str]] = {}
        files = []
        progress = _ProgressBar()
        write_status(paths, "running", pid=os.getpid(), host=os.uname().nodename)
        try:
            for rank in range(spec.world_size):
                cmd = [sys.executable, "-m", "trainkit.worker", str(paths.spec)]
                proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                        env=worker_env(spec, rank),
                                        cwd=spec.project_root, start_new_session=True,
                                        preexec_fn=_die_with_parent)
                procs.append(proc)
                tails[rank] = []
                prefix = "" if spec.world_size == 1 else f"[rank {rank}] "
                if rank == 0:
                    out, err = open(paths.logs / "stdout.log", "a"), open(paths.logs / "stderr.log", "a")
                else:
                    out = err = open(paths.rank_log(rank), "a")
                files += [out, err]
                pumps.append(OutputPump(proc.stdout, out, sys.stdout, prefix,
                                        progress.update if rank == 0 else None, tails[rank]))
                pumps.append(OutputPump(proc.stderr, err, sys.stderr, prefix, None, tails[rank]))
            rc, failed_rank = self._wait(procs)
        except KeyboardInterrupt:
            self._terminate(procs)
            rc, failed_rank = 130, None
            write_status(paths, "cancelled", exit_reason="cancelled by the user (SIGINT/SIGTERM)")
        finally:
            for p in pumps:
                p.thread.join(timeout=5)
            progress.stop()
            for f in files:
                f.close()
        if rc != 0 and failed_rank is not None:
            self._record_failure(paths, procs[failed_rank].returncode, failed_rank, tails[failed_rank])
        return rc

    def _wait(self, procs: list[subprocess.Popen]) -> tuple[int, int | None]:
        """Wait for all; the first non-zero exit stops the others. Returns (rc, failed rank)."""
        while True:
            codes = [p.poll() for p in procs]
            bad = [i for i, c in enumerate(codes) if c not in (None, 0)]
            if bad:
                self._terminate(procs)
                code = procs[bad[0]].returncode
                return (code if code > 0 else 128 - code), bad[0]
            if all(c == 0 for c in codes):
                return 0, None
            time.sleep(0.1)

    @staticmethod
    def _terminate(procs: list[subprocess.Popen]) -> None:
        for p in procs:
            if p.poll() is None:
                _signal_group(p, signal.SIGTERM)
        deadline = time.time() + GRACE_S
        for p in procs:
            try:
                p.wait(timeout=max(0.1, deadline - time.time()))
            except subprocess.TimeoutExpired:
                _signal_group(p, signal.SIGKILL)
                p.wait()

    @staticmethod
    def _record_failure(paths: RunPaths, code: int, rank: int, tail: list[str]) -> None:
        from ..fsutil import read_json

        how = f"signal {signal.Signals(-code).name}" if code < 0 else f"exit code {code}"
        status = read_json(paths.status, {}) or {}
        reason = f"worker rank {rank} failed with {how}"
        if status.get("state") == "failed" and status.get("exit_reason"):
            reason += f": {status['exit_reason']}"
        write_status(paths, "failed", exit_reason=reason, failed_rank=rank, last_log_lines=tail[-10:])


def _signal_group(p: subprocess.Popen, sig: int) -> None:
    try:
        os.killpg(p.pid, sig)
    except ProcessLookupError:
        pass


class _ProgressBar:
    """A rich progress bar for the chief's step progress, only when stdout is a terminal."""

    def __init__(self):
        self.bar = self.task = None
        if sys.stdout.isatty():
            from rich.progress import Progress

            self.bar = Progress(transient=True)
            self.bar.start()

    def update(self, event: dict) -> None:
        if self.bar is None:
            return
        desc = f"epoch {event['epoch']}/{event['epochs']}"
        if self.task is None:
            self.task = self.bar.add_task(desc, total=event["steps"])
        self.bar.update(self.task, description=desc, completed=event["step"], total=event["steps"])

    def stop(self) -> None:
        if self.bar is not None:
            self.bar.stop()
