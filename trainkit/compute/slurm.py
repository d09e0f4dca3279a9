"""compute=slurm, on the submitting machine: one sbatch job per run (one job array per sweep), one
Slurm task per worker process.

- `SlurmBackend.preflight`: the controller answers, the partition accepts the job
  (`sbatch --test-only`), the nodes' Python has the preset's TensorFlow/Keras.
- `launch`: write `slurm/job.sbatch`, `sbatch --parsable`, then return (detached, the default) or
  follow the console until the job ends (`compute.wait=true`). `launch_many`: a sweep's runs as
  one job array, task i driving run i.
- the batch step and its tasks run `compute/slurm_node.py` on the nodes.

sbatch is called directly rather than through submitit: the job is a readable script plus the
JSON job spec (tested against golden files and a real `sbatch --test-only`), the state comes from
trainkit's status.json instead of `sacct` (which submitit polls and which fails on clusters without
accounting), and preemption needs SIGTERM handling and a requeue budget that submitit's USR2-only
handler does not give. The config keeps submitit's parameter names so that switching is a small
change."""
from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional

from ..errors import TrainkitError
from ..fsutil import atomic_write_text, read_json
from ..records.runs import FINISHED, write_status
from ..records.workspace import RunPaths
from ..topology import slurm_tasks_per_node
from .base import Backend, ComputeConfig, Job, announce, mark_cancelled, record_job
from .hostinfo import PROBE, check_probe

CTL_TIMEOUT_S = 15       # scontrol / sbatch / squeue calls
SBATCH_OPTIONS = ("partition", "account", "qos", "constraint", "exclude")
# One #SBATCH value: a newline would add a line, and sbatch stops reading #SBATCH lines at the first
# command (dropping --requeue and the rest); spaces and control characters have no place there either.
SBATCH_VALUE = re.compile(r"[^\s\x00-\x1f\x7f-\x9f]+")
SBATCH_VALUE_EXPECTED = "a Slurm value without whitespace or control characters"


@dataclass
class SlurmConfig(ComputeConfig):
    """compute=slurm: submitit's parameter names; one Slurm task per worker process."""
    name: str = "slurm"
    wait: bool = False                                    # submit, print the job id and return (trainkit jobs ...)
    partition: Optional[str] = None                       # null = the cluster's default partition
    nodes: int = 1
    tasks_per_node: Optional[int] = None                  # null = ceil(processes / nodes); nodes*tasks must equal the processes
    gpus_per_node: int = 0
    cpus_per_task: int = 1
    mem_gb: Optional[float] = None                        # per node; null = the partition's default
    timeout_min: int = 60
    account: Optional[str] = None
    qos: Optional[str] = None
    constraint: Optional[str] = None
    exclude: Optional[str] = None                         # nodes to avoid, Slurm nodelist syntax
    job_name: Optional[str] = None                        # null = trainkit-<experiment>
    setup: List[str] = field(default_factory=list)        # shell lines run in the batch script before the job, e.g. module load cuda/12.4
    additional_parameters: Dict[str, Any] = field(default_factory=dict)  # more #SBATCH --key=value lines, e.g. {gres: "gpu:a100:4"}
    signal_delay_s: int = 90                              # USR2 this long before the time limit: checkpoint + requeue
    max_requeue: int = 3                                  # preemptions/time limits survived by requeueing
    array_parallelism: Optional[int] = None               # -m sweeps: array tasks running at once (%P); null = as Slurm allows
    python: Optional[str] = None                          # interpreter on the nodes; null = this one (shared filesystem)


def ctl(*cmd: str, timeout: float = CTL_TIMEOUT_S) -> subprocess.CompletedProcess:
    """A Slurm client command, bounded (a dead controller makes them wait for minutes)."""
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except FileNotFoundError:
        raise TrainkitError(f"compute=slurm: `{cmd[0]}` is not on PATH: expected the Slurm client "
                            "commands (Debian: apt-get install slurm-client)") from None
    except subprocess.TimeoutExpired:
        raise TrainkitError(f"compute=slurm: `{' '.join(cmd)}` did not answer within {timeout:.0f} s "
                            "(is slurmctld up? see `scontrol ping`)") from None


def sbatch_value_problems(c: SlurmConfig) -> list[str]:
    """`compute.KEY: expected ..., got ...` for each option value that would not stay on its #SBATCH line."""
    values = [(k, getattr(c, k)) for k in (*SBATCH_OPTIONS, "job_name")]
    values += [(f"additional_parameters.{k}", v) for k, v in (c.additional_parameters or {}).items()]
    return [f"compute.{k}: expected {SBATCH_VALUE_EXPECTED}, got {v!r}" for k, v in values
            if v not in (None, "") and not SBATCH_VALUE.fullmatch(str(v))]


def _refuse_broken_lines(c: SlurmConfig, opts: list[tuple[str, object]]) -> None:
    """Again where the script is written: the config keys first, then every value (run directory too)."""
    problems = sbatch_value_problems(c) or [
        f"#SBATCH --{k}: expected {SBATCH_VALUE_EXPECTED}, got {v!r}" for k, v in opts if not SBATCH_VALUE.fullmatch(str(v))]
    if problems:
        raise TrainkitError("compute=slurm: refusing to write the batch script: " + "; ".join(problems))


def sbatch_script(spec, python: str, array: list | None = None, output: Path | None = None) -> str:
    """The batch script of a run: #SBATCH options from compute=slurm, setup lines, the driver.
    With `array` (a sweep's runs, all with spec's compute and processes): one job array whose task
    i drives run i; each driver writes its run's console log itself."""
    c: SlurmConfig = spec.cfg.compute
    paths = RunPaths(Path(spec.run_dir))
    opts = [("job-name", c.job_name or f"trainkit-{spec.experiment}"),
            ("nodes", c.nodes), ("ntasks-per-node", slurm_tasks_per_node(c.nodes, c.tasks_per_node, spec.world_size)),
            ("cpus-per-task", c.cpus_per_task), ("time", c.timeout_min),
            ("output", output or paths.console), ("open-mode", "append"),
            ("signal", f"B:USR2@{c.signal_delay_s}")]
    if array:
        opts.append(("array", f"0-{len(array) - 1}" + (f"%{c.array_parallelism}" if c.array_parallelism else "")))
    if c.gpus_per_node:
        opts.append(("gpus-per-node", c.gpus_per_node))
    if c.mem_gb:
        opts.append(("mem", f"{int(c.mem_gb * 1024)}M"))
    opts += [(k, getattr(c, k)) for k in SBATCH_OPTIONS if getattr(c, k)]
    opts += [(k.replace("_", "-"), v) for k, v in sorted(c.additional_parameters.items())]
    _refuse_broken_lines(c, opts)
    what = f"sweep of {len(array)} runs" if array else f"run {spec.run_id} ({spec.experiment}); job spec: {paths.spec}"
    target = ('"${SPECS[$SLURM_ARRAY_TASK_ID]}"' if array else shlex.quote(str(paths.spec)))
    lines = ["#!/bin/bash",
             f"# trainkit {what}",
             *(f"#SBATCH --{k}={v}" for k, v in opts),
             "#SBATCH --requeue",
             "set -eo pipefail",
             *([f"SPECS=({' '.join(shlex.quote(str(RunPaths(Path(s.run_dir)).spec)) for s in array)})"] if array else []),
             f"export PYTHONPATH={shlex.quote(spec.project_root)}${{PYTHONPATH:+:$PYTHONPATH}}",
             *c.setup,
             f"exec {shlex.quote(python)} -m trainkit.compute.slurm_node driver {target}",
             ""]
    return "\n".join(lines)


class SlurmBackend(Backend):
    name, schema = "slurm", SlurmConfig


    @classmethod
    def from_cluster(cls, gpus, cpus):
        return ({"partition": None, "gpus_per_node": gpus or 0, "cpus_per_task": max(1, (cpus or 2) // max(1, gpus or 1))},
                "TODO: the Slurm partition of such nodes (partition: null = the cluster's default).")

    def python(self, spec=None) -> str:
        """The nodes' interpreter: the built environment's (on the shared filesystem), else
        compute.python, else this one."""
        return (spec.built_env.get("python") if spec else None) or self.cfg.python or sys.executable

    # ------------------------------------------------------------------ compose time
    def capacity(self, procs: int) -> tuple[str, int]:
        c = self.cfg
        return "compute.tasks_per_node", c.nodes * slurm_tasks_per_node(c.nodes, c.tasks_per_node, procs)

    def check(self, procs: int) -> list[str]:
        c, problems = self.cfg, []
        expect = lambda key, ok, what: problems.append(f"compute.{key}: expected {what}, got {getattr(c, key)!r}") \
            if not ok(getattr(c, key)) else None  # noqa: E731
        positive = lambda v: isinstance(v, int) and v >= 1  # noqa: E731
        for key in ("nodes", "cpus_per_task", "timeout_min"):
            expect(key, positive, "an integer >= 1")
        expect("tasks_per_node", lambda v: v is None or positive(v), "null or an integer >= 1")
        expect("gpus_per_node", lambda v: v >= 0, "an integer >= 0")
        expect("max_requeue", lambda v: v >= 0, "an integer >= 0")
        expect("signal_delay_s", lambda v: v >= 0, "an integer >= 0 (seconds)")
        expect("mem_gb", lambda v: v is None or v > 0, "null or a number > 0")
        problems += [f"compute.additional_parameters: expected sbatch option names like 'gres', got {k!r}"
                     for k in c.additional_parameters if not re.fullmatch(r"[a-z][a-z0-9_-]*", str(k))]
        problems += sbatch_value_problems(c)
        if not problems and positive(c.nodes) and self.capacity(procs)[1] > procs:
            problems.append(f"compute.tasks_per_node: one Slurm task per process: nodes*tasks_per_node must equal "
                            f"the {procs} processes, got {self.capacity(procs)[1]}")
        return problems

    # ------------------------------------------------------------------ submit time
    def preflight(self, job_cfg: dict) -> None:
        """Controller up, partition able to hold the job, same TF/Keras on the nodes' Python."""
        from ..records.spec import JobSpec
        from ..topology import process_count
        from .hostinfo import require_horovod

        if shutil.which("sbatch") is None:
            raise TrainkitError("compute=slurm: `sbatch` is not on PATH: expected the Slurm client "
                                "commands (Debian: apt-get install slurm-client)")
        ping = ctl("scontrol", "ping")
        if ping.returncode != 0 or "UP" not in ping.stdout:
            raise TrainkitError("compute=slurm: the Slurm controller does not answer `scontrol ping`: "
                                f"expected 'UP', got {(ping.stdout + ping.stderr).strip()!r}")
        root = job_cfg["workspace"]["root"]
        if any(ch.isspace() for ch in str(root)):
            raise TrainkitError(f"workspace.root: expected a path without whitespace for compute=slurm "
                                f"(#SBATCH --output cannot quote it), got {root!r}")
        n = process_count(job_cfg["distribution"])
        probe = JobSpec(run_id="preflight", experiment=job_cfg["run"]["experiment"], run_dir="/tmp/trainkit-preflight",
                        workspace="", config=job_cfg, overrides=[], config_hash="", dataset={},
                        project_root="/tmp", world_size=n)
        test = ctl("sbatch", "--test-only", str(self._write_probe(probe)))
        if test.returncode != 0:
            raise TrainkitError(f"compute=slurm: the cluster refuses this job ({n} tasks, "
                                f"{self.cfg.cpus_per_task} cpus each): {(test.stderr or test.stdout).strip()}")
        where = f"the nodes' Python {self.python()}"
        try:
            res = subprocess.run([self.python(), "-", "~", "0"], input=PROBE, capture_output=True, text=True, timeout=60)
        except (FileNotFoundError, PermissionError) as e:
            raise TrainkitError(f"{where}: expected a Python interpreter, got {e}") from None
        check_probe(res, job_cfg["environment"], where)
        require_horovod(job_cfg)

    def _write_probe(self, probe) -> Path:
        import tempfile

        path = Path(tempfile.mkdtemp(prefix="trainkit-preflight-")) / "job.sbatch"
        path.write_text(sbatch_script(probe, self.python()))
        return path

    def launch(self, spec) -> Job:
        paths = RunPaths(Path(spec.run_dir))
        script = paths.backend_dir(self.name) / "job.sbatch"
        atomic_write_text(script, sbatch_script(spec, self.python(spec)))
        offset = paths.console.stat().st_size if paths.console.exists() else 0
        res = ctl("sbatch", "--parsable", str(script))
        if res.returncode != 0:
            reason = f"sbatch refused the job: {(res.stderr or res.stdout).strip()}"
            write_status(paths, "failed", exit_reason=reason)
            raise TrainkitError(f"compute=slurm: {reason}")
        job_id = res.stdout.strip().split(";")[0]
        record_job(paths, self.name, id=job_id, script=str(script), cluster=res.stdout.strip())
        announce(spec.run_id, f"slurm job {job_id}")
        job = self.attach(paths)
        if self.cfg.wait:
            try:
                job.follow(offset=offset)
            except KeyboardInterrupt:
                print(f"\nstopped following; job {spec.run_id} keeps running "
                      f"(trainkit jobs cancel {spec.run_id} stops it)", file=sys.stderr)
        return job

    def launch_many(self, specs: list, sweep_dir: Path, echo=print) -> list[Job]:
        """A -m sweep as ONE job array: task i drives run i. Detached by default (the sweep's
        summary fills in as tasks finish: `trainkit sweeps show/wait`); with compute.wait, blocks
        until every task ended."""
        first = specs[0]
        odd = [s.run_id for s in specs if s.config["compute"] != first.config["compute"] or s.world_size != first.world_size]
        if odd:
            raise TrainkitError(f"compute=slurm sweep: one job array needs the same compute settings and process "
                                f"count for every job; runs {odd} differ from {first.run_id} (sweep those settings "
                                "in separate sweeps)")
        script = sweep_dir / self.name / "array.sbatch"
        atomic_write_text(script, sbatch_script(first, self.python(first), array=specs,
                                                output=sweep_dir / self.name / "%A_%a.log"))
        res = ctl("sbatch", "--parsable", str(script))
        if res.returncode != 0:
            reason = f"sbatch refused the sweep's job array: {(res.stderr or res.stdout).strip()}"
            for s in specs:
                write_status(RunPaths(Path(s.run_dir)), "failed", exit_reason=reason)
            raise TrainkitError(f"compute=slurm: {reason}")
        array_id = res.stdout.strip().split(";")[0]
        jobs = []
        for i, s in enumerate(specs):
            paths = RunPaths(Path(s.run_dir))
            record_job(paths, self.name, id=f"{array_id}_{i}", array=array_id, task=i, script=str(script))
            jobs.append(self.attach(paths))
        echo(f"submitted sweep {sweep_dir.name}: slurm job array {array_id}, {len(specs)} tasks ({script})")
        echo(f"  trainkit sweeps show {sweep_dir.name}    # refreshed from the runs as tasks finish")
        echo(f"  trainkit sweeps wait {sweep_dir.name}")
        if self.cfg.wait:
            wait_all(jobs, echo)
        return jobs

    # ------------------------------------------------------------------ a job's life
    @classmethod
    def reconcile(cls, paths: RunPaths, status: dict, write: bool = True) -> dict:
        """A job that left Slurm's queue while status.json still says queued/running ended without
        the driver reporting (a failing `setup` line, a node crash, a kill -9): record it as failed."""
        if status.get("state") in FINISHED or not status.get("job") or not _gone_from_queue(status["job"]["id"]):
            return status
        status = read_json(paths.status, {}) or {}   # re-read: the driver may have just finished
        if status.get("state") in FINISHED:
            return status
        tail = paths.console.read_text(errors="replace").splitlines()[-10:] if paths.console.exists() else []
        fields = {"last_log_lines": tail,
                  "exit_reason": f"slurm job {status['job']['id']} ended without trainkit's driver reporting "
                                 f"(a failing compute.setup line, a node failure or a kill); last output: "
                                 f"{' | '.join(tail[-3:]) or 'none'}"}
        return write_status(paths, "failed", **fields) if write else {**status, **fields, "state": "failed"}

    @classmethod
    def owner_alive(cls, status: dict) -> bool:
        return True   # the queue is the owner: `reconcile` records a job that left it unreported

    @classmethod
    def queue_info(cls, status: dict) -> dict | None:
        """Slurm's view (PENDING (Reason), RUNNING, ...) while the job is in the queue."""
        job_id = (status.get("job") or {}).get("id")
        try:
            res = ctl("squeue", "-h", "-j", job_id, "-o", "%T %r") if job_id else None
        except TrainkitError:
            return None
        text = res.stdout.strip() if res else ""
        if not text or res.returncode != 0:
            return None
        state, _, reason = text.partition(" ")
        return {"state": state, "reason": None if reason in ("", "None") else reason}

    def cancel(self, job: Job, timeout_s: float = 60.0) -> None:
        """scancel the job; the driver records `cancelled` (or we do, if it never started)."""
        status = job.status()
        job_id = status["job"]["id"]
        write_status(job.paths, status.get("state", "queued"), cancel_requested=time.time())
        res = ctl("scancel", job_id)
        if res.returncode != 0:
            raise TrainkitError(f"scancel {job_id}: {(res.stderr or res.stdout).strip()}")
        deadline = time.time() + timeout_s
        while time.time() < deadline and not _gone_from_queue(job_id):
            time.sleep(0.5)
        mark_cancelled(job.paths, "cancelled by `trainkit jobs cancel`")   # no-op if the driver recorded it


def wait_all(jobs: list[Job], echo=print, poll_s: float = 5.0) -> None:
    """Block until every job ended (a job gone from the queue unreported counts as failed)."""
    done_before = -1
    while True:
        done = sum(j.state().done for j in jobs)
        if done != done_before:
            echo(f"  {done}/{len(jobs)} tasks ended")
            sys.stdout.flush()
            done_before = done
        if done == len(jobs):
            return
        time.sleep(poll_s)


def _gone_from_queue(job_id: str) -> bool:
    try:
        res = ctl("squeue", "-h", "-j", job_id, "-o", "%T")
    except TrainkitError:
        return False
    if res.returncode != 0 and "Invalid job id" not in res.stderr:
        return False   # no answer from Slurm is not an answer
    return not res.stdout.strip()
