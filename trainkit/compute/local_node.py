"""The local job's supervisor: starts every worker process on this machine, streams and captures
their output, stops them all when one fails or when it is told to stop, and records the outcome.

It runs inside `python -m trainkit` (compute.wait=true) or detached in its own session:
`python -m trainkit.compute.local_node JOB_SPEC` (compute.wait=false), its output in console.log."""
from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from ..distributions import describe
from ..fsutil import read_json
from ..records.runs import die_with_parent, write_status
from ..records.spec import JobSpec
from ..records.workspace import RunPaths
from ..topology import assign_slots, horovod_hosts, rank_envs, roles
from .hostinfo import horovodrun
from .base import CLUSTER_WORKER_ENV, owner_main
from .output import OutputPump, ProgressBar, RankSink, Tee, horovod_demux, root_cause

GRACE_S = 10.0          # after one worker fails: how long the others get to exit on SIGTERM


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
    env.update({k: str(v) for k, v in spec.cfg.environment.env_vars.items()})
    env.update(CLUSTER_WORKER_ENV)   # this supervisor writes the job's final state on a failure (the chief: chief_error)
    env.update(PYTHONUNBUFFERED="1",
               PYTHONPATH=os.pathsep.join(filter(None, [spec.project_root, env.get("PYTHONPATH")])))
    for key in ("TRAINKIT_RANK", "TRAINKIT_WORLD_SIZE", "TRAINKIT_LOCAL_RANK", "TRAINKIT_LOCAL_SIZE", "TF_CONFIG"):
        env.pop(key, None)
    return env


def plan(spec: JobSpec) -> list[tuple[list[int], list[str], dict]]:
    """(ranks, command, environment) of each process to start: one per rank, or one horovodrun.

    Horovod at one process starts the worker itself: horovodrun's driver and task service would
    share the job's cores for nothing (they made Horovod at one process 1.2x `single` on a core)."""
    dist = spec.cfg.distribution
    from .envs import worker_command

    python = spec.built_env.get("python") or sys.executable   # the built environment's, when there is one
    worker = [*worker_command(python), "-m", "trainkit.worker", str(RunPaths(Path(spec.run_dir)).spec)]
    n = spec.world_size
    if describe(dist).horovod and n > 1:   # one process needs no horovodrun: hvd.init() alone is size 1
        hosts = horovod_hosts(assign_slots([("localhost", n)], n))
        cmd = [str(horovodrun()), "-np", str(n), "-H", hosts, f"--{dist.backend}", *worker]
        return [(list(range(n)), cmd, base_env(spec))]
    addrs = [f"127.0.0.1:{p}" for p in free_ports(n)] if describe(dist).tf_config else []
    envs = rank_envs(dist, [("localhost", rank) for rank in range(n)], addrs)
    return [([rank], worker, {**base_env(spec), **envs[rank]}) for rank in range(n)]


class Supervisor:
    """One local job: start, stream, stop, record."""

    def __init__(self, spec: JobSpec):
        self.spec, self.paths = spec, RunPaths(Path(spec.run_dir))

    def run(self, tee: bool = False) -> int:
        """Run the job to its end; returns its exit code. `tee`: this process's stdout is a terminal
        (compute.wait): show the output there and keep it in console.log too."""
        spec, paths = self.spec, self.paths
        paths.logs.mkdir(parents=True, exist_ok=True)
        if tee:
            log = open(paths.console, "a")
            consoles = (Tee(sys.stdout, log), Tee(sys.stderr, log))
        else:
            consoles = (sys.stdout, sys.stdout)   # console.log
        table = roles(spec.cfg.distribution)
        progress = ProgressBar() if tee else None
        sinks = {r: RankSink(r, paths, spec.world_size, progress.update if progress and r == 0 else None,
                             consoles=consoles, verbose=spec.cfg.run.verbose) for r in range(spec.world_size)}
        procs: list[tuple[list[int], subprocess.Popen]] = []
        pumps: list[OutputPump] = []
        previous = signal.signal(signal.SIGTERM, _interrupt)
        write_status(paths, "running", pid=os.getpid(), host=socket.gethostname())
        try:
            for ranks, cmd, env in plan(spec):
                proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                                        cwd=spec.project_root, start_new_session=True, preexec_fn=die_with_parent)
                procs.append((ranks, proc))
                demux = horovod_demux if describe(spec.cfg.distribution).horovod else None
                pumps += [OutputPump(proc.stdout, ranks, sinks, False, demux),
                          OutputPump(proc.stderr, ranks, sinks, True, demux)]
            servers = {i for i, (ranks, _) in enumerate(procs) if all(table[r].server for r in ranks)}
            rc, failed = _wait([p for _, p in procs], servers)
        except KeyboardInterrupt:
            _terminate([p for _, p in procs])
            rc, failed = 130, None
            asked = (read_json(paths.status, {}) or {}).get("cancel_requested")
            write_status(paths, "cancelled", exit_reason="cancelled by `trainkit jobs cancel`" if asked
                         else "cancelled by the user (SIGINT/SIGTERM)")
        finally:
            signal.signal(signal.SIGTERM, previous)
            for p in pumps:
                p.thread.join(timeout=5)
            if progress:
                progress.stop()
            for sink in sinks.values():
                sink.close()
        if rc != 0 and failed is not None:
            chief_error = (read_json(paths.status, {}) or {}).get("chief_error")   # what the chief reported
            ranks, proc = procs[failed]
            rank, code = (ranks[0], proc.returncode) if len(ranks) == 1 else \
                horovod_failure(sinks, ranks, proc.returncode, chief_error)
            record_failure(paths, code, rank, sinks[rank].tail, chief_error)
        return rc


def _interrupt(signum, frame):
    raise KeyboardInterrupt(signal.Signals(signum).name)


def _wait(procs: list[subprocess.Popen], servers: set[int]) -> tuple[int, int | None]:
    """Wait for the non-server processes; the first non-zero exit stops all others. Servers
    (parameter-server workers and ps) are stopped once the rest succeeded. Returns (rc, index)."""
    while True:
        codes = [p.poll() for p in procs]
        bad = [i for i, c in enumerate(codes) if c not in (None, 0)]
        if bad:
            _terminate(procs)
            code = procs[bad[0]].returncode
            return (code if code > 0 else 128 - code), bad[0]
        if all(c == 0 for i, c in enumerate(codes) if i not in servers):
            for i in servers:   # stateless tf.distribute servers: nothing to lose
                _signal_group(procs[i], signal.SIGKILL)
                procs[i].wait()
            return 0, None
        time.sleep(0.1)


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


def record_failure(paths: RunPaths, code: int, rank: int, tail: list[str], chief: str | None = None) -> None:
    how = f"signal {signal.Signals(-code).name}" if code < 0 else f"exit code {code}"
    reason = f"worker rank {rank} failed with {how}"
    if chief:   # what the chief reported before it stopped
        reason += f": {chief}" if rank == 0 else f" (the chief then reported: {chief.splitlines()[0]})"
    write_status(paths, "failed", exit_reason=reason, failed_rank=rank, last_log_lines=tail[-10:],
                 exit_code=code if code > 0 else 128 - code)


def _signal_group(p: subprocess.Popen, sig: int) -> None:
    try:
        os.killpg(p.pid, sig)
    except ProcessLookupError:
        pass


def horovod_failure(sinks: dict[int, RankSink], ranks: list[int], code: int,
                    chief_error: str | None = None) -> tuple[int, int]:
    """(rank, exit code) of the rank that caused a horovodrun job to fail. horovodrun prints each
    failed process as it ends ("Process 1 exit with status code 137."); the cause is the first of
    them whose output does not say it lost a peer (`root_cause`; the chief's output includes the
    error it recorded). Processes horovodrun stopped itself come last. Without those lines:
    horovodrun's summary ("Process name: 1"), else the chief and horovodrun's own exit code."""
    own = "\n".join(sinks[ranks[0]].launcher)
    ended = {int(r): int(c) for r, c in re.findall(r"Process (\d+) exit with status code (-?\d+)", own)}
    if ended:
        stopped = {143, -15}   # processes horovodrun itself stopped (SIGTERM) after the failure come last
        order = sorted(ended, key=lambda r: ended[r] in stopped)
        rank = root_cause(order, {r: sinks[r].tail for r in ranks}, chief_error, ranks[0])
        rank_code = ended[rank]
    else:
        text = "\n".join(line for r in ranks for line in sinks[r].tail)
        name, status = re.search(r"Process name: (\d+)", text), re.search(r"Exit code: (-?\d+)", text)
        if name is None:
            return ranks[0], code
        rank, rank_code = int(name.group(1)), int(status.group(1)) if status else code
    return rank, (128 - rank_code if 128 < rank_code < 160 else rank_code)   # 137 = SIGKILL


def main(argv: list[str] | None = None) -> int:
    return owner_main(argv, "trainkit.compute.local_node", lambda path: Supervisor(JobSpec.read(path)).run())


if __name__ == "__main__":
    sys.exit(main())
