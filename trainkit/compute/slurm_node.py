"""compute=slurm, on the nodes: the batch step and its tasks.

- the driver (`python -m trainkit.compute.slurm_node driver SPEC`, the batch step): marks the run
  running, starts a Horovod rendezvous if needed, `srun --label`s the tasks and splits their output
  into per-rank logs, and on SIGTERM / the time-limit signal requeues the job (`max_requeue`).
- the task (`python -m trainkit.compute.slurm_node task SPEC`, one per worker): reads its rank from
  SLURM_PROCID and the nodelist, builds TF_CONFIG / Horovod variables with the pure functions in
  `trainkit.topology`, and execs the worker."""
from __future__ import annotations

import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from ..distributions import describe
from ..fsutil import read_json
from ..records.runs import write_status
from ..records.spec import JobSpec
from ..records.workspace import RunPaths
from ..topology import (addresses, block_layout, expand_nodelist, expand_tasks_per_node, horovod_envs,
                        rank_envs)
from .base import CLUSTER_WORKER_ENV, mark_cancelled
from .hostinfo import route_to
from .output import OutputPump, RankSink, root_cause, srun_demux
from .rendezvous import start_rendezvous
from .slurm import ctl


class Driver:
    def __init__(self, spec_path: str):
        self.spec = JobSpec.read(spec_path)
        self.spec_path = spec_path
        self.paths = RunPaths(Path(self.spec.run_dir))
        self.compute = self.spec.cfg.compute
        self.job_id = os.environ.get("SLURM_JOB_ID", "?")
        self.restarts = int(os.environ.get("SLURM_RESTART_COUNT", "0") or 0)
        self.signalled: str | None = None
        self.srun: subprocess.Popen | None = None

    def _on_signal(self, signum, frame) -> None:
        if self.signalled is None:
            self.signalled = signal.Signals(signum).name
            print(f"trainkit driver: {self.signalled} received: stopping the tasks "
                  "(each keeps its last complete epoch checkpoint)", flush=True)
            if self.srun is not None and self.srun.poll() is None:
                self.srun.send_signal(signal.SIGTERM)   # srun forwards it to every task

    def run(self) -> int:
        for sig in (signal.SIGTERM, signal.SIGUSR2, signal.SIGINT):
            signal.signal(sig, self._on_signal)
        if os.environ.get("SLURM_ARRAY_TASK_ID"):   # a sweep's task: this run's console log is ours to write
            log = os.open(self.paths.console, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
            for fd in (1, 2):
                os.dup2(log, fd)
        status = read_json(self.paths.status, {}) or {}
        if status.get("cancel_requested"):
            mark_cancelled(self.paths, "cancelled by `trainkit jobs cancel` before it started")
            return 0
        n = self.spec.world_size
        hosts = expand_nodelist(os.environ["SLURM_JOB_NODELIST"])
        layout = block_layout(hosts, expand_tasks_per_node(os.environ["SLURM_TASKS_PER_NODE"]))[:n]
        write_status(self.paths, "running", pid=os.getpid(), host=socket.gethostname(), worker_pid=None,
                     exit_reason=None, chief_error=None, job={**status.get("job", {}), "restarts": self.restarts,
                                            "nodes": hosts, "started": time.time()})
        print(f"trainkit driver: job {self.job_id} (restart {self.restarts}) on {','.join(hosts)}: "
              f"{n} task(s)", flush=True)
        env = dict(os.environ, TRAINKIT_PORT_BASE=str(pick_base_port(self.job_id, n)))
        rendezvous = None
        if describe(self.spec.config["distribution"]).horovod:
            rendezvous, port = start_rendezvous(layout)
            env.update(HOROVOD_GLOO_RENDEZVOUS_ADDR=socket.gethostbyname(layout[0][0]),
                       HOROVOD_GLOO_RENDEZVOUS_PORT=str(port))
        rc = self._srun(env, n)
        if rendezvous is not None:
            rendezvous.stop()
        return self._finish(rc)

    def _srun(self, env: dict, n: int) -> int:
        cmd = ["srun", "--label", "--kill-on-bad-exit=1", f"--ntasks={n}",
               f"--cpus-per-task={self.compute.cpus_per_task}"]
        if describe(self.spec.config["distribution"]).coordinated:
            cmd.append("--wait=5")    # ps/workers serve forever: stop them once the chief is done
        cmd += [sys.executable, "-m", "trainkit.compute.slurm_node", "task", self.spec_path]
        sinks = {r: RankSink(r, self.paths, n, None, verbose=self.spec.cfg.run.verbose) for r in range(n)}
        self.srun = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        if self.signalled:   # a signal that came before Popen returned
            self.srun.send_signal(signal.SIGTERM)
        pumps = [OutputPump(self.srun.stdout, list(range(n)), sinks, False, srun_demux),
                 OutputPump(self.srun.stderr, list(range(n)), sinks, True, srun_demux)]
        rc = self.srun.wait()
        for p in pumps:
            p.thread.join(timeout=5)
        self.tails = {r: s.tail for r, s in sinks.items()}
        self.srun_lines = sinks[0].launcher   # srun's own report ("srun: error: vm: task 1: Killed")
        for s in sinks.values():
            s.close()
        return rc

    def _finish(self, rc: int) -> int:
        status = read_json(self.paths.status, {}) or {}
        if status.get("cancel_requested"):
            mark_cancelled(self.paths, "cancelled by `trainkit jobs cancel`")
            return 0
        if status.get("state") in ("completed", "pruned"):
            return 0
        if self.signalled:
            return self._requeue(status)
        found = srun_failure(self.srun_lines, self.tails, status.get("chief_error"))
        rank, node, how = found if found else (0, None, f"exit code {rc}")
        reason = f"worker rank {rank}" + (f" on {node}" if node else "") + f" failed: {how}"
        if status.get("chief_error"):
            reason += f" (the chief reported: {status['chief_error'].splitlines()[0]})"
        write_status(self.paths, "failed", exit_reason=reason, failed_rank=rank,
                     last_log_lines=self.tails.get(rank, [])[-10:])
        print(f"trainkit driver: job failed: {reason}", flush=True)
        return rc or 1

    def _requeue(self, status: dict) -> int:
        budget = self.compute.max_requeue
        why = f"preempted ({self.signalled}) at epoch {status.get('epoch', 0)}"
        if self.restarts >= budget:
            write_status(self.paths, "failed", exit_reason=f"{why}; not requeued: compute.max_requeue="
                                                           f"{budget} requeue(s) used")
            return 1
        write_status(self.paths, "queued", exit_reason=f"{why}; requeued ({self.restarts + 1}/{budget}), "
                                                       "resumes from the last checkpoint",
                     requeues=self.restarts + 1)
        print(f"trainkit driver: {why}; requeueing job {self.job_id} "
              f"({self.restarts + 1}/{budget})", flush=True)
        res = ctl("scontrol", "requeue", self.job_id)
        if res.returncode != 0:
            mark_cancelled(self.paths, f"{why}; Slurm refused the requeue "
                                            f"({(res.stderr or res.stdout).strip()}): the job was cancelled")
            return 1
        # Slurm holds a requeued job ~2 minutes (BeginTime); ask it to start as soon as it is
        # pending again. A detached process, because the requeue ends this one (where users may
        # not change their job's start time, the cluster's delay applies).
        # Double fork: the loop is re-parented at once, so Slurm's kill of this job's processes
        # does not find it.
        job = shlex.quote(self.job_id)
        loop = (f"for i in $(seq 90); do sleep 1; scontrol update jobid={job} starttime=now 2>/dev/null "
                f"&& [ \"$(squeue -h -j {job} -o %r)\" != BeginTime ] && exit 0; done")
        subprocess.run(["sh", "-c", f"({loop}) </dev/null >/dev/null 2>&1 &"], start_new_session=True,
                       stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return 0


SRUN_ERROR = re.compile(r"srun: error: (\S+): tasks? (\d+)[\d,-]*: (.+)")


def srun_failure(lines: list[str], tails: dict[int, list[str]] | None = None,
                 chief_error: str | None = None) -> tuple[int, str, str] | None:
    """(rank, node, what) of the task that caused the failure among those srun reports as failed
    ("srun: error: vm: task 1: Killed", "... tasks 0-1: Exited with exit code 3"): the first whose
    output (`tails`, and the error the chief recorded) does not say it lost a peer (`root_cause`).
    Tasks srun itself stopped after the failure do not count. None if srun reported none."""
    found = {}
    for line in lines:
        m = SRUN_ERROR.search(line)
        if m and "Terminated" not in m.group(3):
            found.setdefault(int(m.group(2)), (m.group(1), m.group(3).strip()))
    rank = root_cause(list(found), tails or {}, chief_error)
    return None if rank is None else (rank, *found[rank])


def pick_base_port(job_id: str, n: int) -> int:
    """Ports base..base+n-1 for the TF_CONFIG servers, derived from the job id, free on this node."""
    seed = int(job_id) if job_id.isdigit() else os.getpid()
    base = 20000 + (seed * 97) % 30000
    for _ in range(200):
        if all(_port_free(base + i) for i in range(n)):
            return base
        base = 20000 + (base - 20000 + n + 13) % 30000
    return base


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("", port))
            return True
        except OSError:
            return False


# ----------------------------------------------------------------------------- one task
def task_env(spec: JobSpec, environ: dict) -> dict:
    """A Slurm task's worker environment, from SLURM_* variables and the job spec (pure)."""
    dist = spec.config["distribution"]
    rank = int(environ["SLURM_PROCID"])
    nodelist = environ.get("SLURM_STEP_NODELIST") or environ["SLURM_JOB_NODELIST"]
    per_node = environ.get("SLURM_STEP_TASKS_PER_NODE") or environ["SLURM_TASKS_PER_NODE"]
    layout = block_layout(expand_nodelist(nodelist), expand_tasks_per_node(per_node))
    env = {**CLUSTER_WORKER_ENV,
           **{k: str(v) for k, v in spec.cfg.environment.env_vars.items()},
           **rank_envs(dist, layout, addresses(layout, int(environ["TRAINKIT_PORT_BASE"])))[rank]}
    if describe(dist).horovod:
        env.update(horovod_envs(layout, environ["HOROVOD_GLOO_RENDEZVOUS_ADDR"],
                                int(environ["HOROVOD_GLOO_RENDEZVOUS_PORT"]))[rank])
    return env


def run_task(spec_path: str) -> None:
    spec = JobSpec.read(spec_path)
    env = dict(os.environ)
    env.update(task_env(spec, os.environ))
    if "HOROVOD_RANK" in env and "HOROVOD_GLOO_IFACE" not in env:
        iface = route_to(env["HOROVOD_GLOO_RENDEZVOUS_ADDR"])[0]
        if iface:
            env["HOROVOD_GLOO_IFACE"] = iface
    os.chdir(spec.project_root)
    os.execve(sys.executable, [sys.executable, "-m", "trainkit.worker", spec_path], env)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 2 or argv[0] not in ("driver", "task"):
        print("usage: python -m trainkit.compute.slurm_node driver|task JOB_SPEC", file=sys.stderr)
        return 2
    if argv[0] == "task":
        run_task(argv[1])
        return 1   # not reached: execve
    return Driver(argv[1]).run()


if __name__ == "__main__":
    sys.exit(main())
