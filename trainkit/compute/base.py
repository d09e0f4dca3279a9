"""A compute backend and the handle on a job it runs.

`Backend` (one subclass per target, registered in `compute/__init__.py`) owns its typed config,
its compose-time checks, preflight, the environment build and submission. `Job` (as submitit's)
answers for any run whatever the target: state, wait, cancel, logs, queue_info. The run's
status.json, which trainkit's own processes write, is the truth; the backend adds only what it
alone knows (a Slurm job that left the queue unreported, an owner process that died) and how to
stop its job."""
from __future__ import annotations

import codecs
import os
import signal
import sys
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Iterator

from ..typed import MISSING, from_dict
from ..errors import EXIT_CODES as ERROR_CODES
from ..fsutil import read_json
from ..records.runs import FINISHED, pid_alive, write_status
from ..records.workspace import RunPaths

EXIT_CODES = {"completed": 0, "pruned": 0, "failed": 1, "cancelled": 130}
# Every worker a cluster driver / supervisor starts: it, not the chief, writes the job's final state
# (worker.recipe.record_error), and output is unbuffered so it streams.
CLUSTER_WORKER_ENV = {"TRAINKIT_LAUNCHER_OWNS_STATE": "1", "PYTHONUNBUFFERED": "1"}


@dataclass
class ComputeConfig:
    name: str = MISSING                                   # a registered backend: local | slurm | ssh | ray
    wait: bool = True                                     # block and stream the job's output until it ends; false = submit, print its id and return
    pin_cores: bool = False                               # each worker process runs on its own share of the cores it may use on its host (local rank r of n: the r-th block)


@dataclass(frozen=True)
class JobState:
    """queued | running | completed | failed | cancelled | pruned, and why (for ended jobs)."""

    name: str
    reason: str | None = None
    code: int | None = None      # a failed job's own exit code, when its owner recorded one (a data error: 3)

    @property
    def done(self) -> bool:
        return self.name in FINISHED

    @property
    def exit_code(self) -> int:
        """What `python -m trainkit` and `trainkit jobs logs -f` exit with for this state: a failure's
        own trainkit code (2 bad config, 3 bad data, ...) when its worker exited with one, else 1."""
        if self.name == "failed" and self.code in set(ERROR_CODES.values()):
            return self.code
        return EXIT_CODES.get(self.name, 1)

    def __str__(self) -> str:
        return self.name + (f": {self.reason}" if self.reason and self.done else "")


class Job:
    """One run's job. Its id is the run id; `backend_id` is the target's own (a Slurm job id)."""

    def __init__(self, kind: type["Backend"], paths: RunPaths, write: bool = True):
        """`write=False`: a reader's handle (the dashboard): what the backend learns is shown, never recorded."""
        self.kind, self.paths, self.write = kind, paths, write

    @property
    def id(self) -> str:
        return self.paths.root.name

    @property
    def backend(self) -> "Backend":
        """The backend with the run's own compute config (read from its job spec when needed)."""
        return self.kind(read_json(self.paths.spec)["config"]["compute"])

    def status(self) -> dict:
        """status.json, with what only the backend knows folded in."""
        return self.kind.reconcile(self.paths, read_json(self.paths.status, {}) or {}, self.write)

    def state(self, st: dict | None = None) -> JobState:
        """The job's state, from `st` (one status read, so callers' fields agree with it) or a fresh read."""
        st = self.status() if st is None else st
        name = st.get("state", "queued")
        if name not in ("queued", "running", *FINISHED):    # a hand-edited or foreign status.json: never wait on it forever
            return JobState("failed", f"{self.paths.status}: state {name!r} is not one of "
                                      f"queued, running, {', '.join(sorted(FINISHED))}")
        if name in ("queued", "running") and not self.kind.owner_alive(st):
            return JobState("failed", f"interrupted: the process that owned the job (pid {st.get('pid')} on "
                                      f"{st.get('host')}) is gone; rerun the same command to resume")
        return JobState(name, st.get("exit_reason"), st.get("exit_code"))

    def wait(self, timeout: float | None = None, poll_s: float = 0.5) -> JobState:
        """Block until the job ended; TimeoutError after `timeout` seconds (the job keeps running)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while not (state := self.state()).done:
            if deadline is not None and time.monotonic() >= deadline:
                raise TimeoutError(f"job {self.id} is still {state.name} after {timeout:g} s; it keeps running "
                                   f"(trainkit jobs cancel {self.id} stops it)")
            time.sleep(poll_s)
        return state

    def cancel(self) -> JobState:
        """Stop the job and every process of it; a job that already ended is left as it is."""
        if not self.state().done:
            self.backend.cancel(self)
        return self.state()

    def log_path(self, rank: int | None = None) -> Path:
        """Everything the job printed, all ranks prefixed (rank None), or one rank's own output."""
        if rank is None:
            return self.paths.console
        return self.paths.stdout_log if rank == 0 else self.paths.rank_log(rank)

    def logs(self, rank: int | None = None, follow: bool = False, poll_s: float = 0.5,
             offset: int = 0, timeout: float | None = None) -> Iterator[str]:
        """The log's text (from byte `offset`) in pieces as it grows; with follow, until the job
        ended or `timeout` seconds passed (a log that does not exist yet, of a job still queued, is
        waited for)."""
        path = self.log_path(rank)
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            done = follow and (self.state().done or (deadline is not None and time.monotonic() >= deadline))
            if path.exists():
                with open(path, "rb") as f:
                    f.seek(offset)
                    chunk = f.read()
                offset += len(chunk)
                text = decoder.decode(chunk)
                if text:
                    yield text
            if not follow or done:
                return
            time.sleep(poll_s)

    def follow(self, out=None, offset: int = 0) -> JobState:
        """Print the console log (from byte `offset`) as it grows until the job ends; returns the
        final state."""
        out = out or sys.stdout
        for text in self.logs(follow=True, offset=offset):
            out.write(text)
            out.flush()
        return self.state()

    def queue_info(self) -> dict | None:
        """What the target says about the job while it waits or runs (Slurm: its queue state)."""
        return self.kind.queue_info(self.status())

    def describe(self) -> dict:
        """The job as `trainkit jobs status --json` shows it."""
        st = self.status()            # one read: the state and its exit_reason from the same snapshot
        job, state = st.get("job") or {}, self.state(st)
        out = {"id": self.id, "backend": self.kind.name, "state": state.name, "reason": state.reason,
               "backend_id": job.get("id"), "hosts": job.get("nodes") or job.get("hosts"),
               "submitted": job.get("submitted"), "started": st.get("started"), "ended": st.get("ended"),
               "epoch": st.get("epoch"), "restarts": job.get("restarts", 0), "exit_reason": st.get("exit_reason"),
               "test_accuracy": (st.get("final_metrics") or {}).get("test_accuracy"),
               "registered_model": st.get("registered_model"), "path": str(self.paths.root)}
        if not state.done:
            out["queue"] = self.queue_info()
        return out


class Backend(ABC):
    """A compute target: how its jobs are checked, started, watched and stopped."""

    name: ClassVar[str] = ""
    schema: ClassVar[type] = ComputeConfig
    runs_here: ClassVar[bool] = False    # workers run on this machine: a local path in the config is theirs

    def __init__(self, cfg):
        self.cfg = from_dict(self.schema, cfg) if isinstance(cfg, dict) else cfg

    @classmethod
    def from_cluster(cls, gpus: int | None, cpus: int | None) -> tuple[dict, str] | None:
        """This target's compute keys for an autoscaling cluster of VMs with `gpus` and `cpus`
        each (None: unknown), as Azure ML's AmlCompute was, and a note for the user; None when the
        target does not run such clusters (`trainkit migrate`)."""
        return None

    # ------------------------------------------------------------------ compose time (no I/O)
    def capacity(self, procs: int) -> tuple[str, int]:
        """(the key that sets it, how many worker processes) this target offers a job of `procs`."""
        return "compute", procs

    def check(self, procs: int) -> list[str]:
        """Problems with this target's own keys, as 'key: expected X, got Y' (default: none)."""
        return []

    # ------------------------------------------------------------------ submit time
    def preflight(self, job_cfg: dict) -> None:
        """Refuse a job this target cannot run, before anything is created (default: accept)."""

    def build_environment(self, job_cfg: dict, echo=print) -> dict:
        """Build (or reuse) a requested environment where the workers find it: here, in the
        workspace (local runs; Slurm nodes share the filesystem). {} when none is requested."""
        from .envs import build_here, wanted
        from ..records.workspace import WorkspacePaths

        if not wanted(job_cfg["environment"]):
            return {}
        return build_here(WorkspacePaths.at(job_cfg["workspace"]["root"]).root / "environments",
                          job_cfg["environment"], echo=echo)

    @abstractmethod
    def launch(self, spec) -> Job:
        """Start (or submit) one run's job; with compute.wait, return once it ended."""

    def own(self, spec, owner: str, where: str, run_here) -> Job:
        """Wait or detach, decided here for every target that starts its own job owner. With
        compute.wait this process owns the job: `run_here(paths)` runs it to its end. Otherwise
        `python -m <owner> JOB_SPEC` (its `owner_main`) owns it in a session of its own, logging to
        console.log, and the handle returns at once; `where` is said in the announcement."""
        import socket
        import subprocess

        paths = RunPaths(Path(spec.run_dir))
        if self.cfg.wait:
            run_here(paths)
            return self.attach(paths)
        with open(paths.console, "a") as log:
            proc = subprocess.Popen([sys.executable, "-m", owner, str(paths.spec)], stdin=subprocess.PIPE,
                                    stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                                    cwd=spec.project_root)
        write_status(paths, "queued", pid=proc.pid, host=socket.gethostname())
        proc.stdin.write(b"go\n")   # the owner starts only now: its status writes come after ours
        proc.stdin.close()
        announce(spec.run_id, f"{where}; supervisor pid {proc.pid}")
        return self.attach(paths)

    def launch_many(self, specs: list, sweep_dir: Path, echo=print) -> list[Job]:
        """A sweep's runs (trainkit's Hydra launcher calls this when every job of a sweep targets a
        backend that overrides it; Slurm submits one job array)."""
        return [self.launch(spec) for spec in specs]

    # ------------------------------------------------------------------ a job's life
    @classmethod
    def attach(cls, paths: RunPaths, write: bool = True) -> Job:
        return Job(cls, paths, write)

    @classmethod
    def reconcile(cls, paths: RunPaths, status: dict, write: bool = True) -> dict:
        """status.json corrected by what the target knows (default: as written); `write`: record
        the correction in status.json."""
        return status

    @classmethod
    def owner_alive(cls, status: dict) -> bool:
        """Whether the process that owns an unfinished job (a supervisor, the submitter) still lives."""
        return pid_alive(status.get("pid"), status.get("host"), status.get("pid_id"))

    @classmethod
    def queue_info(cls, status: dict) -> dict | None:
        return None

    def cancel(self, job: Job, timeout_s: float = 60.0) -> None:
        """Stop the owner process (SIGTERM: it stops its workers and records `cancelled`), then
        what only the backend can reach (`stop_remains`)."""
        st = job.status()
        write_status(job.paths, st.get("state", "queued"), cancel_requested=time.time())
        stop_owner(st, timeout_s)
        self.stop_remains(job)
        mark_cancelled(job.paths, "cancelled by `trainkit jobs cancel`")

    def stop_remains(self, job: Job) -> None:
        """After the owner stopped: processes it may have left elsewhere (default: none)."""


def stop_owner(status: dict, timeout_s: float) -> None:
    """SIGTERM the process that owns a job, if it is that very process and on this host; wait for it."""
    import socket

    pid, pid_id = status.get("pid"), status.get("pid_id")
    if not (pid and pid_id and status.get("host") == socket.gethostname() and pid_alive(pid, None, pid_id)):
        return
    os.kill(pid, signal.SIGTERM)
    deadline = time.time() + timeout_s
    while time.time() < deadline and pid_alive(pid, None, pid_id):
        time.sleep(0.2)


def record_job(paths: RunPaths, backend: str, **fields) -> dict:
    """Mark the run as a job of `backend` (queued until its owner starts it)."""
    job = {"backend": backend, "submitted": time.time(), **fields}   # a resumed run: a new job
    return write_status(paths, "queued", job=job, cancel_requested=None, requeues=0, exit_reason=None, exit_code=None)


def announce(run_id: str, what: str, echo=print) -> None:
    echo(f"submitted job {run_id} ({what})")
    echo(f"  trainkit jobs status {run_id}")
    echo(f"  trainkit jobs logs {run_id} -f")
    echo(f"  trainkit jobs cancel {run_id}")


def mark_cancelled(paths: RunPaths, reason: str) -> None:
    status = read_json(paths.status, {}) or {}
    if status.get("state") not in FINISHED:
        write_status(paths, "cancelled", exit_reason=reason)


def finish_remote(paths: RunPaths, spec, console, chief_state) -> int:
    """How a job whose chief ran elsewhere (ssh hosts, a Ray cluster) ends, once its processes are
    gone: failed unless the chief reported completion (`chief_state(status)` reads it from the
    run's status, read once here); then, when the run registers a model and the chief did not (the
    registry is here), the model registered here; then completed. Returns the job's exit code."""
    import subprocess

    st = read_json(paths.status, {}) or {}
    if chief_state(st) != "completed":
        write_status(paths, "failed", exit_reason=st.get("chief_error") or "the chief ended without reporting completion")
        return 1
    if spec.registers and not st.get("registered_model"):
        write_status(paths, "running")
        res = subprocess.run([sys.executable, "-m", "trainkit.worker", "--register", str(paths.spec)],
                             capture_output=True, text=True, cwd=spec.project_root)
        console.write(res.stdout + res.stderr)
        if res.returncode != 0:
            write_status(paths, "failed", exit_reason=f"registering the model failed: "
                                                      f"{(res.stderr or res.stdout).strip()[-300:]}")
            return res.returncode
    write_status(paths, "completed", exit_reason="completed")
    return 0


def owner_main(argv: list[str] | None, module: str, run) -> int:
    """`python -m <module> JOB_SPEC`: a detached job owner's entry. It waits for one line on stdin,
    the submitter's word that it has recorded this process, then returns `run(JOB_SPEC path)`."""
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print(f"usage: python -m {module} JOB_SPEC", file=sys.stderr)
        return 2
    sys.stdin.readline()
    return run(argv[0])
