"""compute=slurm: one sbatch job per run, one Slurm task per worker process.

Three pieces, each small:
- `SlurmLauncher` (on the submit host): preflight, write `slurm/job.sbatch`, `sbatch --parsable`,
  then either return (detached) or follow the console until the job ends (`compute.wait=true`).
- the driver (`python -m trainkit.launch.slurm driver SPEC`, the batch step): marks the run
  running, starts a Horovod rendezvous if needed, `srun --label`s the tasks and splits their output
  into per-rank logs, and on SIGTERM / the time-limit signal requeues the job (`max_requeue`).
- the task (`python -m trainkit.launch.slurm task SPEC`, one per worker): reads its rank from
  SLURM_PROCID and the nodelist, builds TF_CONFIG / Horovod variables with the pure functions in
  `trainkit.topology`, and execs the worker.

sbatch is called directly rather than through submitit: the job is a readable script plus the
JSON job spec (tested against golden files), the state comes from trainkit's status.json instead
of `sacct` (which submitit polls and which fails on clusters without accounting), and preemption
needs SIGTERM handling and a requeue budget that submitit's USR2-only handler does not give.
The config keeps submitit's parameter names so that switching is a small change.
"""
from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from ..errors import TrainkitError
from ..distributions import describe
from ..fsutil import atomic_write_text, read_json
from ..runs import write_status
from ..spec import JobSpec
from ..topology import (addresses, block_layout, expand_nodelist, expand_tasks_per_node, horovod_envs, horovod_slots,
                        rank_envs, slurm_tasks_per_node)
from ..workspace import RunPaths
from . import jobs
from .base import PROBE, Launcher, check_probe, route_to

CTL_TIMEOUT_S = 15       # scontrol / sbatch / squeue calls
SBATCH_OPTIONS = ("partition", "account", "qos", "constraint", "exclude")
# One #SBATCH value: a newline would add a line, and sbatch stops reading #SBATCH lines at the first
# command (dropping --requeue and the rest); spaces and control characters have no place there either.
SBATCH_VALUE = re.compile(r"[^\s\x00-\x1f\x7f-\x9f]+")
SBATCH_VALUE_EXPECTED = "a Slurm value without whitespace or control characters"


def _ctl(*cmd: str, timeout: float = CTL_TIMEOUT_S) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except FileNotFoundError:
        raise TrainkitError(f"compute=slurm: `{cmd[0]}` is not on PATH: expected the Slurm client "
                            "commands (Debian: apt-get install slurm-client)") from None
    except subprocess.TimeoutExpired:
        raise TrainkitError(f"compute=slurm: `{' '.join(cmd)}` did not answer within {timeout:.0f} s "
                            "(is slurmctld up? see `scontrol ping`)") from None


def sbatch_value_problems(compute: dict) -> list[str]:
    """`compute.KEY: expected ..., got ...` for each option value that would not stay on its #SBATCH line."""
    values = [(k, compute.get(k)) for k in (*SBATCH_OPTIONS, "job_name")]
    values += [(f"additional_parameters.{k}", v) for k, v in (compute.get("additional_parameters") or {}).items()]
    return [f"compute.{k}: expected {SBATCH_VALUE_EXPECTED}, got {v!r}" for k, v in values
            if v not in (None, "") and not SBATCH_VALUE.fullmatch(str(v))]


def _refuse_broken_lines(compute: dict, opts: list[tuple[str, object]]) -> None:
    """Again where the script is written: the config keys first, then every value (run directory too)."""
    problems = sbatch_value_problems(compute) or [
        f"#SBATCH --{k}: expected {SBATCH_VALUE_EXPECTED}, got {v!r}" for k, v in opts if not SBATCH_VALUE.fullmatch(str(v))]
    if problems:
        raise TrainkitError("compute=slurm: refusing to write the batch script: " + "; ".join(problems))


def sbatch_script(spec: JobSpec, python: str, array: list[JobSpec] | None = None, output: Path | None = None) -> str:
    """The batch script of a run: #SBATCH options from compute=slurm, setup lines, the driver.
    With `array` (a sweep's runs, all with spec's compute and processes): one job array whose task
    i drives run i; each driver writes its run's console log itself."""
    c = spec.config["compute"]
    run = Path(spec.run_dir)
    opts = [("job-name", c.get("job_name") or f"trainkit-{spec.experiment}"),
            ("nodes", c["nodes"]), ("ntasks-per-node", slurm_tasks_per_node(c["nodes"], c.get("tasks_per_node"), spec.world_size)),
            ("cpus-per-task", c["cpus_per_task"]), ("time", c["timeout_min"]),
            ("output", output or run / "logs" / "console.log"), ("open-mode", "append"),
            ("signal", f"B:USR2@{c['signal_delay_s']}")]
    if array:
        opts.append(("array", f"0-{len(array) - 1}" + (f"%{c['array_parallelism']}" if c.get("array_parallelism") else "")))
    if c.get("gpus_per_node"):
        opts.append(("gpus-per-node", c["gpus_per_node"]))
    if c.get("mem_gb"):
        opts.append(("mem", f"{int(c['mem_gb'] * 1024)}M"))
    opts += [(k, c[k]) for k in SBATCH_OPTIONS if c.get(k)]
    opts += [(k.replace("_", "-"), v) for k, v in sorted(c.get("additional_parameters", {}).items())]
    _refuse_broken_lines(c, opts)
    what = f"sweep of {len(array)} runs" if array else f"run {spec.run_id} ({spec.experiment}); job spec: {run / 'job_spec.json'}"
    target = ('"${SPECS[$SLURM_ARRAY_TASK_ID]}"' if array else shlex.quote(str(run / "job_spec.json")))
    lines = ["#!/bin/bash",
             f"# trainkit {what}",
             *(f"#SBATCH --{k}={v}" for k, v in opts),
             "#SBATCH --requeue",
             "set -eo pipefail",
             *([f"SPECS=({' '.join(shlex.quote(str(Path(s.run_dir) / 'job_spec.json')) for s in array)})"] if array else []),
             f"export PYTHONPATH={shlex.quote(spec.project_root)}${{PYTHONPATH:+:$PYTHONPATH}}",
             *c.get("setup", []),
             f"exec {shlex.quote(python)} -m trainkit.launch.slurm driver {target}",
             ""]
    return "\n".join(lines)


def submit_array(specs: list[JobSpec], sweep_dir: Path, echo=print) -> dict[str, dict]:
    """A -m sweep on compute=slurm as ONE job array: task i drives run i. Detached by default (the
    sweep's summary fills in as tasks finish: `trainkit sweeps show/wait`); with compute.wait,
    blocks until every task ended and returns run id -> {state, metrics, exit_code}."""
    first = specs[0]
    odd = [s.run_id for s in specs if s.config["compute"] != first.config["compute"] or s.world_size != first.world_size]
    if odd:
        raise TrainkitError(f"compute=slurm sweep: one job array needs the same compute settings and process count "
                            f"for every job; runs {odd} differ from {first.run_id} (sweep those settings in separate sweeps)")
    python = SlurmLauncher(first.config["compute"]).python(first)
    script = sweep_dir / "slurm" / "array.sbatch"
    atomic_write_text(script, sbatch_script(first, python, array=specs, output=sweep_dir / "slurm" / "%A_%a.log"))
    res = _ctl("sbatch", "--parsable", str(script))
    if res.returncode != 0:
        reason = f"sbatch refused the sweep's job array: {(res.stderr or res.stdout).strip()}"
        for s in specs:
            write_status(RunPaths(Path(s.run_dir)), "failed", exit_reason=reason)
        raise TrainkitError(f"compute=slurm: {reason}")
    array_id = res.stdout.strip().split(";")[0]
    for i, s in enumerate(specs):
        jobs.record_job(RunPaths(Path(s.run_dir)), "slurm", id=f"{array_id}_{i}", array=array_id, task=i, script=str(script))
    echo(f"submitted sweep {sweep_dir.name}: slurm job array {array_id}, {len(specs)} tasks ({script})")
    echo(f"  trainkit sweeps show {sweep_dir.name}    # refreshed from the runs as tasks finish")
    echo(f"  trainkit sweeps wait {sweep_dir.name}")
    if not first.config["compute"].get("wait"):
        return {}
    finals = wait_all([RunPaths(Path(s.run_dir)) for s in specs], echo)
    return {s.run_id: st for s, st in zip(specs, finals)}


def wait_all(runs: list[RunPaths], echo=print, poll_s: float = 5.0) -> list[dict]:
    """Block until every run's job ended (a job gone from the queue unreported counts as failed)."""
    done_before = -1
    while True:
        states = [reconcile(p, read_json(p.status, {}) or {}) for p in runs]
        done = sum(jobs.is_done(s) for s in states)
        if done != done_before:
            echo(f"  {done}/{len(runs)} tasks ended")
            sys.stdout.flush()
            done_before = done
        if done == len(runs):
            return [{"state": s["state"], "metrics": s.get("final_metrics") or {}, "exit_code": jobs.exit_code(s)}
                    for s in states]
        time.sleep(poll_s)


class SlurmLauncher(Launcher):
    def python(self, spec: JobSpec | None = None) -> str:
        """The nodes' interpreter: the built environment's (on the shared filesystem), else
        compute.python, else this one."""
        return (spec.built_env.get("python") if spec else None) or self.cfg.get("python") or sys.executable

    def preflight(self, cfg: dict) -> None:
        """Controller up, partition able to hold the job, same TF/Keras on the nodes' Python."""
        if shutil.which("sbatch") is None:
            raise TrainkitError("compute=slurm: `sbatch` is not on PATH: expected the Slurm client "
                                "commands (Debian: apt-get install slurm-client)")
        ping = _ctl("scontrol", "ping")
        if ping.returncode != 0 or "UP" not in ping.stdout:
            raise TrainkitError("compute=slurm: the Slurm controller does not answer `scontrol ping`: "
                                f"expected 'UP', got {(ping.stdout + ping.stderr).strip()!r}")
        root = cfg["workspace"]["root"]
        if any(ch.isspace() for ch in str(root)):
            raise TrainkitError(f"workspace.root: expected a path without whitespace for compute=slurm "
                                f"(#SBATCH --output cannot quote it), got {root!r}")
        from ..topology import process_count

        n = process_count(cfg["distribution"])
        probe = JobSpec(run_id="preflight", experiment=cfg["run"]["experiment"], run_dir="/tmp/trainkit-preflight",
                        workspace="", config=cfg, overrides=[], config_hash="", dataset={},
                        project_root="/tmp", world_size=n)
        test = subprocess.run(["sbatch", "--test-only"], input=sbatch_script(probe, self.python()),
                              capture_output=True, text=True, timeout=CTL_TIMEOUT_S)
        if test.returncode != 0:
            raise TrainkitError(f"compute=slurm: the cluster refuses this job ({n} tasks, "
                                f"{self.cfg['cpus_per_task']} cpus each): "
                                f"{(test.stderr or test.stdout).strip()}")
        where = f"the nodes' Python {self.python()}"
        try:
            res = subprocess.run([self.python(), "-", "~", "0"], input=PROBE, capture_output=True,
                                 text=True, timeout=60)
        except (FileNotFoundError, PermissionError) as e:
            raise TrainkitError(f"{where}: expected a Python interpreter, got {e}") from None
        check_probe(res, cfg["environment"], where)
        if describe(cfg["distribution"]).horovod:
            from .local import LocalLauncher

            LocalLauncher(self.cfg).preflight(cfg)

    def launch(self, spec: JobSpec) -> int:
        paths = RunPaths(Path(spec.run_dir))
        script = paths.root / "slurm" / "job.sbatch"
        atomic_write_text(script, sbatch_script(spec, self.python(spec)))
        offset = jobs.console_log(paths).stat().st_size if jobs.console_log(paths).exists() else 0
        res = _ctl("sbatch", "--parsable", str(script))
        if res.returncode != 0:
            reason = f"sbatch refused the job: {(res.stderr or res.stdout).strip()}"
            write_status(paths, "failed", exit_reason=reason)
            raise TrainkitError(f"compute=slurm: {reason}")
        job_id = res.stdout.strip().split(";")[0]
        jobs.record_job(paths, "slurm", id=job_id, script=str(script), cluster=res.stdout.strip())
        jobs.announce(spec.run_id, f"slurm job {job_id}")
        if not self.cfg.get("wait"):
            return 0
        try:
            status = jobs.follow(paths, offset=offset, stop=lambda: jobs.is_done(
                reconcile(paths, read_json(paths.status, {}) or {})))
        except KeyboardInterrupt:
            print(f"\nstopped following; job {spec.run_id} keeps running "
                  f"(trainkit jobs cancel {spec.run_id} stops it)", file=sys.stderr)
            return 130
        return jobs.exit_code(status)


# ----------------------------------------------------------------------------- cancel (jobs CLI)
def cancel(paths: RunPaths, status: dict, timeout_s: float = 60.0) -> None:
    """scancel the job; the driver records `cancelled` (or we do, if it never started)."""
    job_id = status["job"]["id"]
    write_status(paths, status.get("state", "queued"), cancel_requested=time.time())
    res = _ctl("scancel", job_id)
    if res.returncode != 0:
        raise TrainkitError(f"scancel {job_id}: {(res.stderr or res.stdout).strip()}")
    deadline = time.time() + timeout_s
    while time.time() < deadline and not _gone_from_queue(job_id):
        time.sleep(0.5)
    jobs.mark_cancelled(paths, "cancelled by `trainkit jobs cancel`")   # no-op if the driver recorded it


def reconcile(paths: RunPaths, status: dict) -> dict:
    """A job that left Slurm's queue while status.json still says queued/running ended without the
    driver reporting (a failing `setup` line, a node crash, a kill -9): record it as failed."""
    if jobs.is_done(status) or not status.get("job") or not _gone_from_queue(status["job"]["id"]):
        return status
    status = read_json(paths.status, {}) or {}   # re-read: the driver may have just finished
    if jobs.is_done(status):
        return status
    log = jobs.console_log(paths)
    tail = log.read_text(errors="replace").splitlines()[-10:] if log.exists() else []
    return write_status(paths, "failed", last_log_lines=tail,
                        exit_reason=f"slurm job {status['job']['id']} ended without trainkit's driver reporting "
                                    f"(a failing compute.setup line, a node failure or a kill); last output: "
                                    f"{' | '.join(tail[-3:]) or 'none'}")


def _gone_from_queue(job_id: str) -> bool:
    try:
        res = _ctl("squeue", "-h", "-j", job_id, "-o", "%T")
    except TrainkitError:
        return False
    if res.returncode != 0 and "Invalid job id" not in res.stderr:
        return False   # no answer from Slurm is not an answer
    return not res.stdout.strip()


def queue_state(job_id: str) -> str | None:
    """Slurm's view (PENDING (Reason), RUNNING, ...) while the job is in the queue, else None."""
    try:
        res = _ctl("squeue", "-h", "-j", job_id, "-o", "%T %r")
    except TrainkitError:
        return None
    text = res.stdout.strip()
    if res.returncode != 0 or not text:
        return None
    state, _, reason = text.partition(" ")
    return f"{state} ({reason})" if reason and reason != "None" else state


# ----------------------------------------------------------------------------- the batch step
class Driver:
    def __init__(self, spec_path: str):
        self.spec = JobSpec.read(spec_path)
        self.spec_path = spec_path
        self.paths = RunPaths(Path(self.spec.run_dir))
        self.compute = self.spec.config["compute"]
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
            log = os.open(jobs.console_log(self.paths), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
            for fd in (1, 2):
                os.dup2(log, fd)
        status = read_json(self.paths.status, {}) or {}
        if status.get("cancel_requested"):
            jobs.mark_cancelled(self.paths, "cancelled by `trainkit jobs cancel` before it started")
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
        from .local import OutputPump, RankSink, srun_demux

        cmd = ["srun", "--label", "--kill-on-bad-exit=1", f"--ntasks={n}",
               f"--cpus-per-task={self.compute['cpus_per_task']}"]
        if describe(self.spec.config["distribution"]).coordinated:
            cmd.append("--wait=5")    # ps/workers serve forever: stop them once the chief is done
        cmd += [sys.executable, "-m", "trainkit.launch.slurm", "task", self.spec_path]
        sinks = {r: RankSink(r, self.paths, n, None, verbose=self.spec.cfg.run.verbose) for r in range(n)}
        self.srun_lines: list[str] = []

        def demux(line: str, is_err: bool):
            parsed = srun_demux(line, is_err)
            if parsed is None and "srun: " in line:   # srun's own report ("srun: error: vm: task 1: Killed")
                self.srun_lines.append(line)
            return parsed

        self.srun = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        if self.signalled:   # a signal that came before Popen returned
            self.srun.send_signal(signal.SIGTERM)
        pumps = [OutputPump(self.srun.stdout, list(range(n)), sinks, False, demux),
                 OutputPump(self.srun.stderr, list(range(n)), sinks, True, demux)]
        rc = self.srun.wait()
        for p in pumps:
            p.thread.join(timeout=5)
        self.tails = {r: s.tail for r, s in sinks.items()}
        for s in sinks.values():
            s.close()
        return rc

    def _finish(self, rc: int) -> int:
        status = read_json(self.paths.status, {}) or {}
        if status.get("cancel_requested"):
            jobs.mark_cancelled(self.paths, "cancelled by `trainkit jobs cancel`")
            return 0
        if status.get("state") in ("completed", "pruned"):
            return 0
        if self.signalled:
            return self._requeue(status)
        found = srun_failure(self.srun_lines)
        rank, node, how = found if found else (0, None, f"exit code {rc}")
        reason = f"worker rank {rank}" + (f" on {node}" if node else "") + f" failed: {how}"
        if status.get("chief_error"):
            reason += f" (the chief reported: {status['chief_error'].splitlines()[0]})"
        write_status(self.paths, "failed", exit_reason=reason, failed_rank=rank,
                     last_log_lines=self.tails.get(rank, [])[-10:])
        print(f"trainkit driver: job failed: {reason}", flush=True)
        return rc or 1

    def _requeue(self, status: dict) -> int:
        budget = int(self.compute.get("max_requeue", 0))
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
        res = _ctl("scontrol", "requeue", self.job_id)
        if res.returncode != 0:
            jobs.mark_cancelled(self.paths, f"{why}; Slurm refused the requeue "
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


def srun_failure(lines: list[str]) -> tuple[int, str, str] | None:
    """(rank, node, what) of the first task srun reports as failed ("srun: error: vm: task 1:
    Killed", "... tasks 0-1: Exited with exit code 3"), else None."""
    for line in lines:
        m = SRUN_ERROR.search(line)
        if m and "Terminated" not in m.group(3):   # tasks srun itself stopped after the failure
            return int(m.group(2)), m.group(1), m.group(3).strip()
    return None


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


def start_rendezvous(layout: list[tuple[str, int]]):
    """Horovod's Gloo rendezvous (what horovodrun runs), on the batch node."""
    from horovod.runner.common.util.hosts import SlotInfo
    from horovod.runner.http.http_server import RendezvousServer

    server = RendezvousServer(verbose=0)
    port = server.start()
    server.init([SlotInfo(**s) for s in horovod_slots(layout)])
    return server, port


# ----------------------------------------------------------------------------- one task
def task_env(spec: JobSpec, environ: dict) -> dict:
    """A Slurm task's worker environment, from SLURM_* variables and the job spec (pure)."""
    dist = spec.config["distribution"]
    rank = int(environ["SLURM_PROCID"])
    nodelist = environ.get("SLURM_STEP_NODELIST") or environ["SLURM_JOB_NODELIST"]
    per_node = environ.get("SLURM_STEP_TASKS_PER_NODE") or environ["SLURM_TASKS_PER_NODE"]
    layout = block_layout(expand_nodelist(nodelist), expand_tasks_per_node(per_node))
    env = {**jobs.CLUSTER_WORKER_ENV,
           **{k: str(v) for k, v in spec.config["environment"].get("env_vars", {}).items()},
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
        print("usage: python -m trainkit.launch.slurm driver|task JOB_SPEC", file=sys.stderr)
        return 2
    if argv[0] == "task":
        run_task(argv[1])
        return 1   # not reached: execve
    return Driver(argv[1]).run()


if __name__ == "__main__":
    sys.exit(main())
