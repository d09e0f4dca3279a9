"""The contract every compute backend keeps (as Hydra's launcher_common_tests): a backend's test
module subclasses `BackendContract`, says how to start its target (`overrides`, `start`) and gets
every test below, run against the real target:

- a detached run of a project's own model completes, registers its model with ONNX, and
  `trainkit jobs logs -f` streams the console and ends with the job's exit code;
- a dead rank fails the job naming that rank; rerunning the same command resumes from the last
  checkpoint (kill, then rerun resumes);
- cancel stops the job and leaves no process of it anywhere: the ranks' own worker processes are
  gone, and so is what the backend keeps for a job (Ray: its actors and placement group);
- every detached submit returns at once (within `submit_bound_s`), the job still queued or running.

The last two are about the backend, not TensorFlow: their ranks run tests/scripts/resumable.py (an
'epoch' is a sleep, its state in the run's checkpoint directory), under MultiWorkerMirrored's
launch (TF_CONFIG per rank), so each takes seconds, not minutes.
"""
from __future__ import annotations

import json
import os
import re
import signal
import time
from pathlib import Path

from ..conftest import FASHION, ROOT, run_cli, run_trainkit
from .clusters import job_status, processes_mentioning, submitted_id, wait_for

MWM = ["distribution=multi_worker_mirrored", "distribution.workers=2"]


def sleeper(epochs: int, seconds: float) -> list[str]:
    """Overrides that run tests/scripts/resumable.py on every rank."""
    return ["entry=script", f"entry.source_dir={ROOT / 'tests' / 'scripts'}", "entry.script=resumable.py",
            "entry.model_path=null", f'entry.arguments=["--epochs={epochs}","--seconds={seconds}"]']


def alive(pid: int) -> bool:
    """A process that exists and is not a zombie (killed, waiting for its parent to reap it)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def console(job_id: str) -> str:
    return run_cli(["jobs", "logs", job_id]).stdout


def rank_pid(job_id: str, rank: int) -> int | None:
    """The pid of the trainkit.worker process of `rank` of a job, wherever on this machine it runs
    (the ssh hosts and Ray nodes of the tests are network namespaces of this machine)."""
    for line in processes_mentioning(job_id):
        pid, args = line.split(None, 1)
        if "trainkit.worker" not in args:
            continue
        try:
            environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if f"TRAINKIT_RANK={rank}".encode() in environ:
            return int(pid)
    return None


class BackendContract:
    """Subclass per backend: `overrides` (compute=... and its keys) and a `target` fixture that
    starts the real target (a Slurm cluster, sshd hosts, a Ray cluster)."""

    overrides: list[str] = []
    timeout_s = 300
    submit_bound_s = 20      # a detached submit (3-5 s measured): compose, snapshot, start the supervisor or sbatch (2 tests at once)

    holds_remains = False    # the backend holds something for a running job besides processes

    def remains(self, job_id: str) -> list[str]:
        """What the backend still holds for a job besides processes (Ray: actors, placement groups)."""
        return []

    def submit(self, args: list[str], cwd: Path | None = None) -> str:
        kw = {"cwd": cwd} if cwd else {}
        started = time.monotonic()
        proc = run_trainkit(["+debug=smoke", *self.overrides, "compute.wait=false", *args], **kw)
        took = time.monotonic() - started
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
        job_id = submitted_id(proc.stdout)
        state = job_status(job_id)["state"]
        assert took < self.submit_bound_s and state in ("queued", "running"), \
            f"a detached submit returned after {took:.1f} s with the job {state}"      # it returned at submit time
        return job_id

    def test_a_project_model_runs_detached_registers_and_its_logs_follow_to_the_end(self, target, workspace, tmp_path):
        from .test_project import wide_project

        assert FASHION.exists()
        project = wide_project(tmp_path, width=32, depth=2)
        job_id = self.submit(["+experiment=example", "model=wide", *MWM], cwd=project)
        follow = run_cli(["jobs", "logs", job_id, "-f"], timeout=self.timeout_s)
        assert follow.returncode == 0, follow.stdout[-3000:] + follow.stderr[-2000:]
        assert "epoch " in follow.stdout and "test: loss=" in follow.stdout and f"job {job_id} completed" in follow.stdout
        st = job_status(job_id)
        assert st["state"] == "completed" and st["backend"] == self.overrides[0].split("=")[1], st
        run = Path(st["path"])
        assert "_target_: mymodels.wide.build" in (run / "config.yaml").read_text()
        assert (run / "logs" / "rank-1.log").read_text().strip() and (run / "metrics.jsonl").read_text().strip()
        model = json.loads(run_cli(["models", "show", st["registered_model"], "--json"]).stdout)
        assert model["run_id"] == job_id and model["onnx"]["status"] == "ok"

    def test_a_dead_rank_fails_the_job_naming_it_and_a_rerun_resumes(self, target, workspace):
        args = [*MWM, *sleeper(8, 1.0), "run.experiment=contract_kill"]
        job_id = self.submit(args)
        wait_for(lambda: "epoch 2 done" in console(job_id), self.timeout_s, "epoch 2 (its state saved)")
        os.kill(wait_for(lambda: rank_pid(job_id, 1), 30, "rank 1's worker"), signal.SIGKILL)
        st = wait_for(lambda: (s := job_status(job_id))["state"] in ("failed", "completed", "cancelled") and s,
                      120, "the job to fail")
        assert st["state"] == "failed" and "rank 1" in st["exit_reason"], st
        assert run_cli(["jobs", "logs", job_id, "-f"], timeout=60).returncode == 1
        wait_for(lambda: not processes_mentioning(job_id), 60, "no process of the job left")
        again = run_trainkit(["+debug=smoke", *self.overrides, "compute.wait=true", *args])
        assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-2000:]
        assert f"resuming run {job_id}" in again.stdout
        resumed = [int(n) for n in re.findall(r"starting at epoch (\d+)", again.stdout)]
        assert resumed and min(resumed) >= 3, again.stdout[-3000:]          # from the saved state, not epoch 1
        shown = json.loads(run_cli(["runs", "show", job_id, "--json"]).stdout)
        assert shown["status"] == "completed"
        assert sorted({h["step"] for h in shown["history"] if "score" in h}) == list(range(1, 9))

    def test_cancel_stops_the_job_and_leaves_no_process(self, target, workspace):
        job_id = self.submit([*MWM, *sleeper(300, 1.0), "run.experiment=contract_cancel"])
        wait_for(lambda: "epoch 1 done" in console(job_id), self.timeout_s, "the first epoch")
        ranks = [wait_for(lambda r=r: rank_pid(job_id, r), 30, f"rank {r}'s worker") for r in (0, 1)]
        assert bool(self.remains(job_id)) == self.holds_remains, "the remains check sees the running job's"
        res = run_cli(["jobs", "cancel", job_id], timeout=120)
        assert res.returncode == 0 and "cancelled" in res.stdout, res.stdout + res.stderr
        st = job_status(job_id)
        assert st["state"] == "cancelled" and "jobs cancel" in st["exit_reason"], st    # (recorded by cancel itself)
        wait_for(lambda: not any(alive(p) for p in ranks), 15, f"the ranks' workers {ranks} gone")   # really stopped
        wait_for(lambda: not processes_mentioning(job_id), 30, "no process of the job left")
        wait_for(lambda: not self.remains(job_id), 30, "nothing of the job left on the backend")
