"""Run every worker as a child process on this machine, streaming and capturing their output."""
from __future__ import annotations

import ctypes
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO, Callable

from ..errors import TrainkitError
from ..runs import write_status
from ..spec import JobSpec
from ..distributions import describe
from ..topology import assign_slots, horovod_hosts, rank_envs, roles
from ..tfquiet import NOISE
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


def free_ports(n: int, host: str = "127.0.0.1") -> list[int]:
    """n distinct free TCP ports (all held open together, so none is handed out twice)."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind((host, 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def base_env(spec: JobSpec) -> dict:
    env = dict(os.environ)
    env.update({k: str(v) for k, v in spec.config["environment"].get("env_vars", {}).items()})
    env.update(PYTHONUNBUFFERED="1",
               PYTHONPATH=os.pathsep.join(filter(None, [spec.project_root, env.get("PYTHONPATH")])))
    for key in ("TRAINKIT_RANK", "TRAINKIT_WORLD_SIZE", "TRAINKIT_LOCAL_RANK", "TRAINKIT_LOCAL_SIZE", "TF_CONFIG"):
        env.pop(key, None)
    return env


def horovodrun() -> Path:
    return Path(sys.executable).with_name("horovodrun")


def plan(spec: JobSpec) -> list[tuple[list[int], list[str], dict]]:
    """(ranks, command, environment) of each process to start: one per rank, or one horovodrun."""
    dist = spec.config["distribution"]
    from ..envs import worker_command

    python = spec.built_env.get("python") or sys.executable   # the built environment's, when there is one
    worker = [*worker_command(python), "-m", "trainkit.worker", str(RunPaths(Path(spec.run_dir)).spec)]
    n = spec.world_size
    if describe(dist).horovod:
        hosts = horovod_hosts(assign_slots([("localhost", n)], n))
        cmd = [str(horovodrun()), "-np", str(n), "-H", hosts, f"--{dist.get('backend', 'gloo')}", *worker]
        return [(list(range(n)), cmd, base_env(spec))]
    addrs = [f"127.0.0.1:{p}" for p in free_ports(n)] if describe(dist).tf_config else []
    envs = rank_envs(dist, [("localhost", rank) for rank in range(n)], addrs)
    return [([rank], worker, {**base_env(spec), **envs[rank]}) for rank in range(n)]


class RankSink:
    """One rank's output: its log file(s), the last lines (for failure reports), the console."""

    def __init__(self, rank: int, paths: RunPaths, world_size: int, on_progress: Callable | None,
                 prefix: str | None = None, console: IO[str] | None = None, verbose: bool = False):
        self.rank, self.on_progress, self.tail, self.console = rank, on_progress, [], console
        self.quiet = not verbose   # TensorFlow's start-up lines (of launchers such as horovodrun) stay in the logs only
        self.prefix = prefix if prefix is not None else "" if world_size == 1 else f"[rank {rank}] "
        if rank == 0:
            self.out, self.err = open(paths.logs / "stdout.log", "a"), open(paths.logs / "stderr.log", "a")
        else:
            self.out = self.err = open(paths.rank_log(rank), "a")
        self.lock = threading.Lock()

    def write(self, line: str, is_err: bool) -> None:
        if line.startswith(PROGRESS):
            if self.on_progress:
                try:
                    self.on_progress(json.loads(line[len(PROGRESS):]))
                except ValueError:
                    pass
            return
        with self.lock:
            log = self.err if is_err else self.out
            log.write(line)
            log.flush()
            if self.quiet and NOISE.match(line):
                return
            self.tail.append(line.rstrip("\n"))
            del self.tail[:-20]
            echo = self.console or (sys.stderr if is_err else sys.stdout)
            echo.write(self.prefix + line)
            echo.flush()

    def close(self) -> None:
        self.out.close()
        if self.err is not self.out:
            self.err.close()


HOROVOD_LINE = re.compile(r"\[(\d+)\]<(stdout|stderr)>:(.*)", re.S)   # fullmatch: the rest is the line
SRUN_LABEL = re.compile(r"\s*(\d+): (.*)", re.S)


def horovod_demux(line: str, is_err: bool) -> tuple[int, bool, str] | None:
    """horovodrun prefixes every rank's line with `[rank]<stdout|stderr>:`."""
    m = HOROVOD_LINE.fullmatch(line)
    return (int(m.group(1)), m.group(2) == "stderr", m.group(3)) if m else None


def srun_demux(line: str, is_err: bool) -> tuple[int, bool, str] | None:
    """`srun --label` prefixes every task's line with `<task id>: `."""
    m = SRUN_LABEL.fullmatch(line)
    return (int(m.group(1)), is_err, m.group(2)) if m else None


class OutputPump:
    """Reads one process's stream line by line and hands each line to the rank it belongs to. A
    stream that carries several ranks (horovodrun, srun) names the rank in a prefix: `demux`."""

    def __init__(self, stream: IO[bytes], ranks: list[int], sinks: dict[int, RankSink], is_err: bool,
                 demux: Callable | None = None):
        self.thread = threading.Thread(target=self._run, args=(stream, ranks, sinks, is_err, demux),
                                       daemon=True)
        self.thread.start()

    @staticmethod
    def _run(stream, ranks, sinks, is_err, demux) -> None:
        for raw in iter(stream.readline, b""):
            line = raw.decode(errors="replace")
            rank, err = ranks[0], is_err
            if demux is not None:
                parsed = demux(line, is_err)
                if parsed:
                    rank, err, line = parsed
            sinks.get(rank, sinks[ranks[0]]).write(line, err)


class LocalLauncher(Launcher):
    def preflight(self, cfg: dict) -> None:
        if describe(cfg["distribution"]).horovod:
            import importlib.util

            if importlib.util.find_spec("horovod") is None or not horovodrun().exists():
                from ..strategies import HOROVOD_INSTALL

                raise TrainkitError(f"distribution=horovod: horovod is not installed in {sys.prefix}; "
                                    f"install it with:\n  {HOROVOD_INSTALL}")

    def launch(self, spec: JobSpec) -> int:
        paths = RunPaths(Path(spec.run_dir))
        paths.logs.mkdir(parents=True, exist_ok=True)
        table = roles(spec.config["distribution"])
        progress = _ProgressBar()
        sinks = {r: RankSink(r, paths, spec.world_size, progress.update if r == 0 else None,
                             verbose=spec.cfg.run.verbose) for r in range(spec.world_size)}
        procs: list[tuple[list[int], subprocess.Popen]] = []
        pumps: list[OutputPump] = []
        write_status(paths, "running", pid=os.getpid(), host=os.uname().nodename)
        try:
            for ranks, cmd, env in plan(spec):
                proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                                        cwd=spec.project_root, start_new_session=True,
                                        preexec_fn=_die_with_parent)
                procs.append((ranks, proc))
                demux = horovod_demux if describe(spec.config["distribution"]).horovod else None
                pumps += [OutputPump(proc.stdout, ranks, sinks, False, demux),
                          OutputPump(proc.stderr, ranks, sinks, True, demux)]
            servers = {i for i, (ranks, _) in enumerate(procs) if all(table[r].server for r in ranks)}
            rc, failed = self._wait([p for _, p in procs], servers)
        except KeyboardInterrupt:
            self._terminate([p for _, p in procs])
            rc, failed = 130, None
            write_status(paths, "cancelled", exit_reason="cancelled by the user (SIGINT/SIGTERM)")
        finally:
            for p in pumps:
                p.thread.join(timeout=5)
            progress.stop()
            for sink in sinks.values():
                sink.close()
        if rc != 0 and failed is not None:
            ranks, proc = procs[failed]
            rank, code = (ranks[0], proc.returncode) if len(ranks) == 1 else \
                _horovod_failure(sinks, ranks, proc.returncode)
            record_failure(paths, code, rank, sinks[rank].tail)
        return rc

    def _wait(self, procs: list[subprocess.Popen], servers: set[int]) -> tuple[int, int | None]:
        """Wait for the non-server processes; the first non-zero exit stops all others. Servers
        (parameter-server workers and ps) are stopped once the rest succeeded. Returns (rc, index)."""
        while True:
            codes = [p.poll() for p in procs]
            bad = [i for i, c in enumerate(codes) if c not in (None, 0)]
            if bad:
                self._terminate(procs)
                code = procs[bad[0]].returncode
                return (code if code > 0 else 128 - code), bad[0]
            if all(c == 0 for i, c in enumerate(codes) if i not in servers):
                for i in servers:   # stateless tf.distribute servers: nothing to lose
                    _signal_group(procs[i], signal.SIGKILL)
                    procs[i].wait()
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


def record_failure(paths: RunPaths, code: int, rank: int, tail: list[str]) -> None:
    from ..fsutil import read_json

    how = f"signal {signal.Signals(-code).name}" if code < 0 else f"exit code {code}"
    status = read_json(paths.status, {}) or {}
    reason = f"worker rank {rank} failed with {how}"
    if status.get("state") == "failed" and status.get("exit_reason"):   # written by the chief
        reason += f": {status['exit_reason']}" if rank == 0 else \
            f" (the chief then reported: {status['exit_reason'].splitlines()[0]})"
    write_status(paths, "failed", exit_reason=reason, failed_rank=rank, last_log_lines=tail[-10:])


def _signal_group(p: subprocess.Popen, sig: int) -> None:
    try:
        os.killpg(p.pid, sig)
    except ProcessLookupError:
        pass


def _horovod_failure(sinks: dict[int, RankSink], ranks: list[int], code: int) -> tuple[int, int]:
    """(rank, exit code) of the first rank that failed, as horovodrun reports it ("Process name: 1",
    "Exit code: 137"); else the chief and horovodrun's own exit code."""
    text = "\n".join(line for r in ranks for line in sinks[r].tail)
    name, status = re.search(r"Process name: (\d+)", text), re.search(r"Exit code: (-?\d+)", text)
    if name is None:
        return ranks[0], code
    rank_code = int(status.group(1)) if status else code
    return int(name.group(1)), (128 - rank_code if 128 < rank_code < 160 else rank_code)  # 137 = SIGKILL


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
