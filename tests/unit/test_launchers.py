"""Cluster launchers without a cluster: the generated sbatch text against golden files, the task
environment built from SLURM_* variables, Slurm's host-list syntax, ssh command lines, and the
compute config checks."""
from __future__ import annotations

import json
import os
import shlex
from pathlib import Path

import pytest

from trainkit.config.validate import check_config
from trainkit.compute.slurm import sbatch_script
from trainkit.compute.slurm_node import task_env
from trainkit.compute.ssh import SshBackend
from trainkit.compute.ssh_hosts import Host
from trainkit.compute.ssh_supervisor import remote_spec
from trainkit.records.spec import JobSpec
from trainkit.topology import (block_layout, expand_nodelist, expand_tasks_per_node, horovod_slots,
                               local_sizes)

from ..conftest import compose

GOLDEN = Path(__file__).resolve().parent.parent / "golden"


def spec_for(overrides: list[str]) -> JobSpec:
    from omegaconf import OmegaConf

    from trainkit.topology import process_count

    cfg = OmegaConf.to_container(compose(overrides), resolve=True)
    cfg.pop("hydra", None)
    cfg["workspace"]["root"] = "/ws"
    return JobSpec(run_id="20261122-101500-ab12cd", experiment="golden", run_dir="/ws/experiments/golden/runs/20261122-101500-ab12cd",
                   workspace="/ws", config=cfg, overrides=overrides, config_hash="0" * 16,
                   dataset={"name": "d", "version": 1, "files": {"train_images": [{
                       "path": "/ws/datasets/blobs/abc/train.gz", "sha256": "abc"}]}},
                   project_root="/opt/trainkit", world_size=process_count(cfg["distribution"]))


@pytest.mark.parametrize("case,overrides", [
    ("slurm_single", ["compute=slurm"]),
    ("slurm_mwm_2nodes", ["compute=slurm", "distribution=multi_worker_mirrored", "distribution.workers=4",
                          "compute.nodes=2", "compute.partition=gpu", "compute.gpus_per_node=2",
                          "compute.mem_gb=32", "compute.account=ml", "compute.qos=high",
                          "compute.setup=[module load cuda/12.4,source /opt/venv/bin/activate]",
                          "+compute.additional_parameters.gres=gpu:a100:2", "compute.timeout_min=240"]),
])
def test_sbatch_script_matches_golden(case, overrides):
    text = sbatch_script(spec_for(overrides), "/opt/venv/bin/python")
    golden = GOLDEN / f"{case}.sbatch"
    if os.environ.get("TRAINKIT_UPDATE_GOLDEN"):
        golden.write_text(text)
    assert text == golden.read_text()


def test_nodelist_and_tasks_per_node_syntax():
    assert expand_nodelist("gpu[01-03,07],login") == ["gpu01", "gpu02", "gpu03", "gpu07", "login"]
    assert expand_nodelist("n[8-10]-ib") == ["n8-ib", "n9-ib", "n10-ib"]
    assert expand_nodelist("vm") == ["vm"]
    assert expand_tasks_per_node("2(x3),1") == [2, 2, 2, 1]
    layout = block_layout(["a", "b"], [2, 1])
    assert layout == [("a", 0), ("a", 1), ("b", 0)]
    assert local_sizes(layout) == [2, 2, 1]
    slots = horovod_slots([("a", 0), ("b", 0), ("b", 1)])
    assert [(s["rank"], s["local_rank"], s["cross_rank"], s["cross_size"]) for s in slots] == \
        [(0, 0, 0, 2), (1, 0, 1, 2), (2, 1, 0, 1)]


def test_task_env_builds_tf_config_from_the_nodelist():
    spec = spec_for(["compute=slurm", "distribution=multi_worker_mirrored", "distribution.workers=4",
                     "compute.nodes=2"])
    environ = {"SLURM_PROCID": "3", "SLURM_STEP_NODELIST": "gpu[01-02]", "SLURM_STEP_TASKS_PER_NODE": "2(x2)",
               "TRAINKIT_PORT_BASE": "23000"}
    env = task_env(spec, environ)
    assert (env["TRAINKIT_RANK"], env["TRAINKIT_WORLD_SIZE"], env["TRAINKIT_LOCAL_RANK"]) == ("3", "4", "1")
    tf = json.loads(env["TF_CONFIG"])
    assert tf["cluster"]["worker"] == ["gpu01:23000", "gpu01:23001", "gpu02:23000", "gpu02:23001"]
    assert tf["task"] == {"type": "worker", "index": 3}


def test_task_env_horovod_rendezvous_variables():
    spec = spec_for(["compute=slurm", "distribution=horovod", "distribution.processes=2"])
    env = task_env(spec, {"SLURM_PROCID": "1", "SLURM_JOB_NODELIST": "vm", "SLURM_TASKS_PER_NODE": "2",
                          "TRAINKIT_PORT_BASE": "1", "HOROVOD_GLOO_RENDEZVOUS_ADDR": "10.0.0.1",
                          "HOROVOD_GLOO_RENDEZVOUS_PORT": "4242"})
    assert env["HOROVOD_RANK"] == "1" and env["HOROVOD_SIZE"] == "2" and env["HOROVOD_LOCAL_SIZE"] == "2"
    assert env["HOROVOD_CONTROLLER"] == "gloo" and env["HOROVOD_GLOO_RENDEZVOUS_PORT"] == "4242"
    assert "TF_CONFIG" not in env


def test_ssh_command_quotes_everything_and_keeps_strict_host_keys():
    compute = compose(["compute=ssh"]).compute
    from omegaconf import OmegaConf

    c = OmegaConf.to_container(compute, resolve=True)
    c["hosts"] = [{"host": "gpu1", "port": 2200, "user": "me", "slots": 2, "address": None, "workdir": None}]
    host = Host(SshBackend(c).cfg, 0)
    argv = host.command("echo " + shlex.quote("; touch PWNED #"))
    assert argv[argv.index("-o") + 1] == "BatchMode=yes" and "StrictHostKeyChecking=yes" in argv
    assert argv[-3:-1] == ["me@gpu1", "--"]
    assert shlex.split(argv[-1]) == ["sh", "-c", "echo '; touch PWNED #'"]   # one literal argument


def test_remote_spec_rewrites_paths_and_registers_locally():
    spec = spec_for(["compute=ssh"])
    d, path = remote_spec(spec, "/home/u/tk")
    assert path == "/home/u/tk/runs/20261122-101500-ab12cd/run/job_spec.json"
    assert d["project_root"] == "/home/u/tk/runs/20261122-101500-ab12cd/code"
    assert d["dataset"]["files"]["train_images"][0]["path"] == "/home/u/tk/datasets/blobs/abc/train.gz"
    assert d["config"]["registry"]["enabled"] is False and spec.config["registry"]["enabled"] is True


def _problems(overrides):
    from omegaconf import OmegaConf

    cfg = OmegaConf.to_container(compose(overrides), resolve=True)
    cfg.pop("hydra", None)
    return check_config(cfg)


def test_compute_checks_name_the_key():
    p = _problems(["compute=slurm", "distribution=multi_worker_mirrored", "distribution.workers=2",
                   "compute.tasks_per_node=3"])
    assert any(x.startswith("compute.tasks_per_node: one Slurm task per process") for x in p), p
    p = _problems(["compute=ssh", "distribution=multi_worker_mirrored", "distribution.workers=2"])
    assert any(x.startswith("compute.hosts[*].slots: distribution=multi_worker_mirrored needs 2")
               and "compute=ssh has compute.hosts[*].slots=1" in x for x in p), p
    p = _problems(["compute=ssh", "compute.hosts=[{host:'a;b',slots:0}]"])
    assert any("compute.hosts[0].host" in x for x in p) and any("compute.hosts[0].slots" in x for x in p), p
    p = _problems(["compute=local", "environment.secret_env=[NOT_SET_ANYWHERE_42]"])
    assert p == ["environment.secret_env[0]: expected $NOT_SET_ANYWHERE_42 to be set in this shell, it is not"]


def test_srun_failure_names_the_first_failed_task_not_the_ones_srun_stopped():
    from trainkit.compute.slurm_node import srun_failure

    lines = ["epoch 1/5 ...", "srun: error: gpu02: task 3: Killed",
             "srun: error: gpu01: tasks 0-2: Terminated"]
    assert srun_failure(lines) == (3, "gpu02", "Killed")
    assert srun_failure(["srun: error: vm: tasks 0-1: Exited with exit code 3"]) == (0, "vm", "Exited with exit code 3")
    assert srun_failure(["all good"]) is None
