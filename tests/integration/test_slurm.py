"""compute=slurm against a real one-node Slurm (slurm-wlm + munge, started by the fixture):
single, MultiWorkerMirrored and Horovod with 2 tasks, detached and blocking; preemption with
requeue and resume; a failing setup line; job arrays. Cancel, a dead rank and rerun are in the
backend contract suite (test_backends.py)."""
from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from ..conftest import FASHION, run_cli, run_trainkit
from .clusters import job_status, start, submitted_id, wait_for

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(not FASHION.exists(), reason="needs apt-get install dataset-fashion-mnist")]
HAVE_HOROVOD = Path(sys.executable).with_name("horovodrun").exists()
DIST = {"single": ["distribution=single"],
        "multi_worker_mirrored": ["distribution=multi_worker_mirrored", "distribution.workers=2"],
        "horovod": ["distribution=horovod", "distribution.processes=2"]}


@pytest.fixture(scope="module", autouse=True)
def slurm():
    start("slurm_up.sh")


def assert_complete_record(job_id: str, world: int) -> dict:
    st = job_status(job_id)
    assert st["state"] == "completed", st
    run = Path(st["path"])
    for rel in ("config.yaml", "job_spec.json", "environment.json", "metrics.jsonl", "slurm/job.sbatch",
                "outputs/model/model.keras", "outputs/model/saved_model", "outputs/metrics.json",
                "logs/stdout.log", "logs/console.log", "curves.png"):
        assert (run / rel).exists(), rel
    for rank in range(1, world):
        assert (run / "logs" / f"rank-{rank}.log").read_text().strip(), f"rank {rank} log empty"
    model = json.loads(run_cli(["models", "show", st["registered_model"], "--json"]).stdout)
    assert model["run_id"] == job_id and model["onnx"]["status"] == "ok"
    return st


@pytest.mark.parametrize("dist, mode", [("single", "blocking"), ("multi_worker_mirrored", "blocking"),
                                        ("horovod", "detached")])
def test_slurm_job_completes_and_registers(dist, mode, workspace):
    """The contract suite (test_backends.py) covers detached MWM, cancel, a dead rank and rerun on slurm."""
    if dist == "horovod" and not HAVE_HOROVOD:
        pytest.skip("needs bash scripts/build_horovod.sh")
    args = ["+debug=smoke", "compute=slurm", f"compute.wait={mode == 'blocking'}",
            f"run.experiment=slurm_{dist}_{mode}", *DIST[dist]]
    proc = run_trainkit(args)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    job_id = submitted_id(proc.stdout)
    world = 1 if dist == "single" else 2
    if mode == "detached":
        assert "completed" not in proc.stdout           # it returned at submit time
        assert f"trainkit jobs logs {job_id} -f" in proc.stdout
        follow = run_cli(["jobs", "logs", job_id, "-f"], timeout=600)
        assert follow.returncode == 0, follow.stdout[-2000:] + follow.stderr
        assert "test: loss=" in follow.stdout
    else:
        assert f"run {job_id} completed" in proc.stdout and "test: loss=" in proc.stdout
    st = assert_complete_record(job_id, world)
    assert st["backend"] == "slurm" and st["backend_id"].isdigit()
    listed = json.loads(run_cli(["jobs", "list", "--json"]).stdout)
    assert [j["id"] for j in listed] == [job_id]


def test_sigterm_requeues_and_resumes_without_losing_an_epoch(workspace):
    epochs = 6
    proc = run_trainkit(["+debug=smoke", "compute=slurm", "dataset.limit_train=20000",
                         f"trainer.epochs={epochs}", "run.experiment=preempt"])
    assert proc.returncode == 0, proc.stderr[-2000:]
    job_id = submitted_id(proc.stdout)
    st = wait_for(lambda: (s := job_status(job_id))["epoch"] and s["epoch"] >= 2 and s, 180, "epoch 2")
    assert st["epoch"] < epochs, "finished before the signal: make the job longer"
    subprocess.run(["scancel", "--signal=TERM", "--full", st["backend_id"]], check=True)
    final = wait_for(lambda: (s := job_status(job_id))["state"] in ("completed", "failed", "cancelled") and s,
                     300, "the requeued job to finish")
    assert final["state"] == "completed", final
    assert final["restarts"] == 1
    run = Path(final["path"])
    status = json.loads((run / "status.json").read_text())
    assert status["requeues"] == 1
    epochs_seen = [json.loads(ln)["epoch"] for ln in (run / "metrics.jsonl").read_text().splitlines()]
    assert epochs_seen == list(range(1, epochs + 1))          # none lost, none repeated
    resumed = json.loads((run / "outputs" / "metrics.json").read_text())["resumed_at_epoch"]
    assert 2 <= resumed < epochs
    console = (run / "logs" / "console.log").read_text()
    assert "preempted (SIGTERM)" in console and "requeueing job" in console
    assert f"resumed from checkpoint: epoch {resumed} complete" in console


def test_a_failing_setup_line_fails_the_job_instead_of_leaving_it_queued(workspace):
    proc = run_trainkit(["+debug=smoke", "compute=slurm", "compute.wait=true",
                         "compute.setup=[echo preparing the node,exit 3]", "run.experiment=bad_setup"])
    assert proc.returncode == 1, proc.stdout[-2000:] + proc.stderr[-2000:]
    st = job_status(submitted_id(proc.stdout))
    assert st["state"] == "failed" and "ended without trainkit's driver reporting" in st["exit_reason"], st
    assert "preparing the node" in st["exit_reason"]


def test_an_unchanged_script_runs_on_slurm(workspace):
    """Script mode on the nodes (a project model on slurm is in the contract suite)."""
    from .test_script import SEED

    proc = run_trainkit([*SEED, 'entry.arguments=["--data-folder=${dataset.path}","--epochs=1","--limit=3000"]',
                         "compute=slurm", "compute.wait=true", "run.experiment=slurm_script"])
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    st = job_status(submitted_id(proc.stdout))
    shown = json.loads(run_cli(["runs", "show", st["id"], "--json"]).stdout)
    assert st["state"] == "completed" and shown["metrics"]["test_accuracy"] > 0.5
    assert json.loads(run_cli(["models", "show", "slurm_script", "--json"]).stdout)["onnx"]["status"] == "ok"


def test_a_grid_sweep_is_one_job_array_and_an_environment_is_built_for_the_nodes(workspace):
    proc = run_trainkit(["-m", "+debug=smoke", "compute=slurm", "trainer.learning_rate=0.01,0.001",
                         "trainer.batch_size=32,64", "compute.array_parallelism=2", "registry.enabled=false",
                         "run.experiment=array"])
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    array = re.search(r"submitted sweep (\S+): slurm job array (\d+), 4 tasks", proc.stdout)
    assert array, proc.stdout[-2000:]
    sweep, job = array.groups()
    script = next(workspace.glob(f"sweeps/{sweep}/slurm/array.sbatch")).read_text()
    assert "#SBATCH --array=0-3%2" in script and script.count("job_spec.json") == 4
    waited = run_cli(["sweeps", "wait", sweep, "--poll", "2"], timeout=900)
    assert waited.returncode == 0, waited.stdout[-2000:] + waited.stderr
    summary = json.loads(run_cli(["sweeps", "show", sweep, "--json"]).stdout)
    assert summary["counts"] == {"completed": 4} and all(r["test_accuracy"] for r in summary["rows"])
    runs = [json.loads(run_cli(["runs", "show", r["run_id"], "--json"]).stdout) for r in summary["rows"]]
    assert sorted(r["status_detail"]["job"]["id"] for r in runs) == [f"{job}_{i}" for i in range(4)]
    from .test_environments import TABULATE

    env = run_trainkit([*TABULATE, 'environment.pip=["tabulate==0.9.0"]', "compute=slurm", "compute.wait=true",
                        "run.experiment=slurm_env"])
    assert env.returncode == 0, env.stdout[-3000:] + env.stderr[-3000:]
    assert "tabulate 0.9.0 imported from" in env.stdout and f"{workspace}/environments/" in env.stdout


def test_generated_scripts_meet_a_real_sbatch(tmp_path):
    """Issue 23 item 12: the scripts trainkit writes go through the real `sbatch --test-only`
    (parsed and validated by Slurm, nothing queued). The CPU script would start; the GPU script's
    every option parses, and the only objection is the GPUs this one-node cluster lacks."""
    from trainkit.compute.slurm import sbatch_script

    from ..unit.test_launchers import spec_for

    def test_only(overrides: list[str]) -> subprocess.CompletedProcess:
        from dataclasses import replace

        spec = replace(spec_for(["compute=slurm", *overrides]), run_dir=str(tmp_path / "run"))
        path = tmp_path / f"job-{len(overrides)}.sbatch"
        path.write_text(sbatch_script(spec, sys.executable))
        return subprocess.run(["sbatch", "--test-only", str(path)], capture_output=True, text=True, timeout=60)

    cpu = test_only(["compute.partition=debug", "compute.timeout_min=30"])
    assert cpu.returncode == 0 and "to start at" in cpu.stderr, cpu.stderr
    gpu = test_only(["distribution=multi_worker_mirrored", "distribution.workers=2", "compute.partition=debug",
                     "compute.gpus_per_node=2", "compute.mem_gb=1", "compute.timeout_min=30",
                     "+compute.additional_parameters.gres=gpu:2"])
    parse_errors = [ln for ln in gpu.stderr.splitlines() if re.search(r"unrecognized option|invalid (argument|option)"
                                                                      r"|unknown option|Invalid --", ln)]
    assert not parse_errors, gpu.stderr
    assert gpu.returncode == 0 or re.search(r"Requested node configuration is not available|Invalid generic resource"
                                            r"|Invalid Trackable RESource|gres", gpu.stderr), gpu.stderr
