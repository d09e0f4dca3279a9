"""entry=script runs as users migrating from Azure ML meet them first: a migrated (cluster-sized,
Horovod) experiment on compute=local, trainer keys a script never sees, and a rerun after a fix.
The real config tree with a project laid out as `trainkit migrate` writes one; no TensorFlow."""
from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from trainkit.compute import get_backend
from trainkit.compute.local import LocalConfig, placement_notes
from trainkit.config.compose import compose_job, in_project
from trainkit.errors import ConfigError
from trainkit.launch.snapshot import code_changes, source_code, tree_hash, write_code_info
from trainkit.launch.submit import choose_run, code_verdict, renew_code
from trainkit.records.workspace import RunPaths, WorkspacePaths
from trainkit.launch.snapshot import snapshot_code

from ..conftest import run_trainkit

EXPERIMENT = """\
# @package _global_
defaults: [{override /dataset: mnist-dataset}, {override /compute: gpu-cluster}, {override /distribution: horovod}, {override /entry: script}, _self_]
entry: {source_dir: tf-mnist, script: tf_mnist.py, arguments: [--data-folder, '${dataset.path}', --epochs, '${params.epochs}'], azureml_compat: true, model_path: outputs/model}
distribution: {processes: 4}
compute: {nodes: 2, tasks_per_node: 2}
params: {epochs: 20}
"""
DATASET = """\
defaults: [base_dataset, _self_]
name: mnist-dataset
num_classes: 10
sources: ['file:///nowhere/mnist/']
files:
  - {role: train_images, name: train-images-idx3-ubyte.gz, sha256: null}
  - {role: train_labels, name: train-labels-idx1-ubyte.gz, sha256: null}
  - {role: test_images, name: t10k-images-idx3-ubyte.gz, sha256: null}
  - {role: test_labels, name: t10k-labels-idx1-ubyte.gz, sha256: null}
"""
CLUSTER = "defaults: [base_slurm, _self_]\npartition: gpu\ngpus_per_node: 1\n"


@pytest.fixture
def migrated(tmp_path, monkeypatch) -> Path:
    """A project as `trainkit migrate` writes it: a Slurm cluster, a dataset, a Horovod experiment."""
    proj = tmp_path / "proj"
    for rel, text in {"conf/experiment/tf_mnist.yaml": EXPERIMENT, "conf/dataset/mnist-dataset.yaml": DATASET,
                      "conf/compute/gpu-cluster.yaml": CLUSTER, "tf-mnist/tf_mnist.py": "print('training')\n"}.items():
        (proj / rel).parent.mkdir(parents=True, exist_ok=True)
        (proj / rel).write_text(text)
    monkeypatch.chdir(proj)
    return proj


def compose_in(project: Path, *overrides: str) -> dict:
    with in_project(project):
        return compose_job(["+experiment=tf_mnist", *overrides])


def problems_of(project: Path, *overrides: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        compose_in(project, *overrides)
    return info.value.problems


# ------------------------------------------------------------------ 1. compute=local with a cluster's sizes
def test_a_migrated_horovod_cluster_experiment_composes_on_compute_local(migrated):
    cfg = compose_in(migrated, "compute=local", "params.epochs=1")
    assert cfg["compute"]["name"] == "local" and (cfg["compute"]["nodes"], cfg["compute"]["tasks_per_node"]) == (2, 2)
    assert cfg["distribution"]["name"] == "horovod" and cfg["distribution"]["processes"] == 4
    assert [str(a) for a in cfg["entry"]["arguments"]] == ["--data-folder", "<dataset.path>", "--epochs", "1"]
    assert get_backend(cfg["compute"]).capacity(4) == ("compute.slots", 4)


def test_the_cluster_keeps_its_meaning_of_nodes(migrated):
    cfg = compose_in(migrated)
    assert cfg["compute"]["name"] == "slurm" and cfg["compute"]["partition"] == "gpu"
    assert get_backend(cfg["compute"]).capacity(4) == ("compute.tasks_per_node", 4)   # 2 nodes x 2 tasks


@pytest.mark.parametrize("overrides,expected", [
    (["distribution.processes=2"], "compute.tasks_per_node: expected compute.nodes x compute.tasks_per_node = the 2 "
                                   "process(es) of the distribution, got 2 x 2"),
    (["compute.nodes=0"], "compute.nodes: expected an integer >= 1, got 0"),
    (["compute.tasks_per_node=0"], "compute.tasks_per_node: expected null or an integer >= 1, got 0"),
    (["compute.tasks_per_node=4", "distribution.processes=8"], "compute.slots: distribution=horovod needs 8 processes"),
])
def test_local_nodes_are_checked_against_the_processes_and_slots(migrated, overrides, expected):
    problems = problems_of(migrated, "compute=local", *overrides)
    assert any(p.startswith(expected) for p in problems), problems


def test_local_nodes_default_to_one_machine_and_change_nothing_else():
    cfg = compose_job(["distribution=horovod", "distribution.processes=2"])
    assert (cfg["compute"]["nodes"], cfg["compute"]["tasks_per_node"]) == (1, None)
    assert get_backend(cfg["compute"]).check(2) == get_backend(cfg["compute"]).check(3) == []


def test_placement_notes_say_where_the_processes_run():
    two_by_two = placement_notes(LocalConfig(nodes=2, tasks_per_node=2), 4, 2)
    assert two_by_two == ["compute=local: compute.nodes=2 x tasks_per_node=2: all 4 processes run on this machine "
                          "(one host; nodes are not simulated)",
                          "note: 4 worker processes share 2 core(s) here: each runs slower than on a machine of "
                          "its own (fine for a smoke test; time it on the cluster)"]
    assert placement_notes(LocalConfig(), 2, 2) == []
    assert placement_notes(LocalConfig(), 3, 2)[0].startswith("note: 3 worker processes share 2 core(s)")


# ------------------------------------------------------------------ 2. trainer keys a script never sees
def test_a_trainer_key_on_the_command_line_is_refused_naming_the_param_to_set(migrated):
    [problem] = problems_of(migrated, "compute=local", "trainer.epochs=5")
    assert problem == ("trainer.epochs: expected no trainer setting with entry=script (your script reads only its own "
                       "arguments; trainkit's training loop does not run), got 5 on the command line; set "
                       "params.epochs=5 instead (entry.arguments pass it as --epochs ${params.epochs}); "
                       "this config's params: epochs")


def test_the_cli_exits_2_before_anything_is_written(migrated, workspace):
    proc = run_trainkit(["+experiment=tf_mnist", "compute=local", "trainer.batch_size=32"], cwd=migrated, timeout=120)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "trainer.batch_size: expected no trainer setting with entry=script" in proc.stderr
    assert "add --batch-size ${params.batch_size} to entry.arguments and set params.batch_size=32" in proc.stderr
    assert not workspace.exists() or not any(workspace.rglob("status.json"))


def test_a_trainer_key_the_experiment_sets_is_refused_too(migrated):
    exp = migrated / "conf/experiment/tf_mnist.yaml"
    exp.write_text(exp.read_text() + "trainer: {learning_rate: 0.01}\n")
    [problem] = problems_of(migrated)
    assert problem.startswith("trainer.learning_rate: expected no trainer setting with entry=script")
    assert "got 0.01 from +experiment=tf_mnist; pass it to your script: add --learning-rate ${params.learning_rate}" \
        in problem


def test_a_literal_argument_is_named_as_the_one_to_change(migrated):
    [problem] = problems_of(migrated, "entry.arguments=[--epochs,'20']", "trainer.epochs=2")
    assert "change --epochs in entry.arguments, or add --epochs ${params.epochs}" in problem


def test_a_trainer_key_the_script_gets_through_an_interpolation_is_used(migrated):
    cfg = compose_in(migrated, "entry.arguments=['--epochs=${trainer.epochs}','--lr','${params.lr}']",
                     "+params.lr=${trainer.learning_rate}", "trainer.epochs=2", "trainer.learning_rate=0.01")
    assert [str(a) for a in cfg["entry"]["arguments"]] == ["--epochs=2", "--lr", "0.01"]


def test_the_smoke_preset_warns_instead_of_refusing(migrated, capsys):
    cfg = compose_in(migrated, "compute=local", "+debug=smoke")
    assert cfg["trainer"]["epochs"] == 1 and cfg["dataset"]["limit_train"] == 3000
    err = capsys.readouterr().err
    assert ("warning: +debug=smoke sets trainer.epochs=1, trainer.steps_per_call=10 for trainkit's own training loop; "
            "with entry=script they do not reach your script. For trainer.epochs: set params.epochs=1 instead") in err


def test_trainer_runs_and_their_batch_split_are_unchanged(migrated):
    assert compose_job(["trainer.epochs=5"])["trainer"]["epochs"] == 5
    with pytest.raises(ConfigError, match="trainer.batch_size: the global batch must split evenly over 3"):
        compose_job(["distribution=horovod", "distribution.processes=3"])
    cfg = compose_in(migrated, "compute=local", "distribution.processes=3", "compute.nodes=3",
                     "compute.tasks_per_node=1")   # a script splits its own batches
    assert cfg["distribution"]["processes"] == 3


# ------------------------------------------------------------------ 3. a rerun after a fix
def test_the_resume_decision_is_the_snapshot_against_the_current_code():
    same = {"train.py": "a" * 64, "util.py": "b" * 64}
    assert code_verdict("R1", same, dict(same)) is None
    fixed = {"train.py": "c" * 64, "new.py": "d" * 64}
    assert code_verdict("R1", same, fixed) == ("not resuming R1: its code changed (new.py (new), train.py, util.py "
                                              "(removed)); starting a new run (run.resume=R1 resumes it with the "
                                              "current code)")
    assert code_changes(same, fixed) == ["new.py (new)", "train.py", "util.py (removed)"]
    assert tree_hash(same) == tree_hash(dict(reversed(same.items()))) != tree_hash(fixed)


def make_script_run(ws: WorkspacePaths, src: Path, run_id: str, state: str = "failed", record: bool = True) -> RunPaths:
    paths = RunPaths(ws.run_dir("e", run_id))
    paths.root.mkdir(parents=True)
    (paths.root / "outputs").mkdir()
    (paths.root / "logs").mkdir()
    snapshot_code(src, paths.root)
    if record:
        write_code_info(paths.code_info, src, source_code(src))
    paths.status.write_text(json.dumps({"state": state, "config_hash": "h", "pid": dead_pid(), "host": "x"}))
    return paths


def dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


@pytest.fixture
def source(tmp_path) -> Path:
    src = tmp_path / "src"
    src.mkdir()
    (src / "train.py").write_text("raise SystemExit(1)\n")
    (src / "old.py").write_text("OLD = 1\n")
    return src


def script_cfg(src: Path, resume: str = "auto") -> dict:
    return {"run": {"resume": resume, "experiment": "e", "snapshot_max_mb": 300.0},
            "entry": {"name": "script", "source_dir": str(src)}}


def test_auto_resume_takes_an_unchanged_script_run_and_skips_a_changed_one(tmp_path, source):
    ws = WorkspacePaths(tmp_path / "ws")
    run = make_script_run(ws, source, "20260101-000000-aaaaaa")
    said: list[str] = []
    assert choose_run(ws, script_cfg(source), "h", said.append) == (run.root.name, True) and said == []
    (source / "train.py").write_text("print('fixed')\n")
    run_id, resuming = choose_run(ws, script_cfg(source), "h", said.append)
    assert not resuming and run_id != run.root.name
    assert said == [f"not resuming {run.root.name}: its code changed (train.py); starting a new run "
                    f"(run.resume={run.root.name} resumes it with the current code)"]
    assert choose_run(ws, script_cfg(source, run.root.name), "h", said.append) == (run.root.name, True)


def test_a_run_recorded_before_code_hashes_is_compared_by_its_copies(tmp_path, source):
    ws = WorkspacePaths(tmp_path / "ws")
    run = make_script_run(ws, source, "20260101-000000-aaaaaa", record=False)
    assert choose_run(ws, script_cfg(source), "h", print) == (run.root.name, True)
    (source / "train.py").write_text("print('fixed')\n")
    said: list[str] = []
    assert choose_run(ws, script_cfg(source), "h", said.append)[1] is False
    assert "its code changed (train.py)" in said[0]


def test_trainer_runs_resume_whatever_the_project_code(tmp_path, source):
    ws = WorkspacePaths(tmp_path / "ws")
    run = make_script_run(ws, source, "20260101-000000-aaaaaa")
    (source / "train.py").write_text("print('changed')\n")
    cfg = {**script_cfg(source), "entry": {"name": "trainer"}}   # trainkit's loop imports the project's code as it is
    assert choose_run(ws, cfg, "h", print) == (run.root.name, True)


def test_resuming_by_id_renews_the_snapshot_in_place_and_records_the_change(tmp_path, source):
    ws = WorkspacePaths(tmp_path / "ws")
    run = make_script_run(ws, source, "20260101-000000-aaaaaa")
    before = json.loads(run.code_info.read_text())["hash"]
    (run.code / "written.txt").write_text("by the script")        # its own files in its cwd stay
    (run.outputs / "ckpt").write_text("state")
    (source / "train.py").write_text("print('fixed')\n")
    (source / "old.py").unlink()
    (source / "new.py").write_text("NEW = 1\n")
    said: list[str] = []
    renew_code(run, script_cfg(source, run.root.name), str(ws.root), said.append)
    assert (run.code / "train.py").read_text() == "print('fixed')\n" and (run.code / "new.py").is_file()
    assert not (run.code / "old.py").exists() and (run.code / "written.txt").is_file()
    assert (run.code / "outputs").is_symlink() and (run.code / "outputs" / "ckpt").read_text() == "state"
    status = json.loads(run.status.read_text())
    [change] = status["code_changes"]
    assert change["files"] == ["new.py (new)", "old.py (removed)", "train.py"] and change["from"] == before
    assert status["code_hash"] == change["to"] == tree_hash(source_code(source)) == \
        json.loads(run.code_info.read_text())["hash"]
    assert said == [f"run {run.root.name}: its code changed since its snapshot (new.py (new), old.py (removed), "
                    "train.py); resuming it with the current code"]
    renew_code(run, script_cfg(source, run.root.name), str(ws.root), said.append)   # unchanged now: nothing recorded
    assert len(json.loads(run.status.read_text())["code_changes"]) == 1 and len(said) == 1


def test_a_renewed_snapshot_never_writes_into_the_runs_own_folders(tmp_path, source):
    ws = WorkspacePaths(tmp_path / "ws")
    run = make_script_run(ws, source, "20260101-000000-aaaaaa")
    (source / "logs").mkdir()
    (source / "logs" / "x.txt").write_text("not source")
    with pytest.raises(ConfigError, match=r"entry.source_dir: .*logs/x.txt is inside 'logs'"):
        renew_code(run, script_cfg(source, run.root.name), str(ws.root), print)
    assert not (run.logs / "x.txt").exists() and os.path.islink(run.code / "logs")
