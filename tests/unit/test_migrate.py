"""`trainkit migrate` on Azure ML SDK v1 notebooks and scripts written for these tests
(tests/fixtures/azureml): what each construct becomes, the report, --check, never overwriting."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from ..conftest import ROOT, run_cli

FIXTURES = ROOT / "tests" / "fixtures" / "azureml"
MIRROR = "http://yann.lecun.com/exdb/mnist/=file:///usr/share/datasets/fashion-mnist/"


@pytest.fixture(scope="module")
def migrated(tmp_path_factory) -> tuple[Path, object]:
    dest = tmp_path_factory.mktemp("project")
    res = run_cli(["migrate", str(FIXTURES), "--to", str(dest), "--check", "--mirror", MIRROR])
    return dest, res


def conf(dest: Path, rel: str) -> dict:
    return yaml.safe_load((dest / "conf" / rel).read_text())


def test_the_project_composes_and_a_broken_notebook_is_reported_not_fatal(migrated):
    dest, res = migrated
    assert res.returncode == 0, res.stdout + res.stderr
    assert "broken.ipynb cell 0: does not parse" in res.stdout
    assert re.search(r"migrated \d+ Azure ML SDK call\(s\) into .*: 5 experiment\(s\)", res.stdout)
    assert "trainkit train +experiment=" in res.stdout
    assert sorted(p.stem for p in (dest / "conf" / "experiment").glob("*.yaml")) == [
        "Tutorial-TF-Mnist", "tf-mnist-estimator", "tf-mnist-horovod", "tf-mnist-hyperdrive", "tf-mnist-ps"]
    assert (dest / "tf-mnist" / "tf_mnist.py").read_text() == (FIXTURES / "tf-mnist" / "tf_mnist.py").read_text()


def test_each_construct_becomes_its_config(migrated):
    dest, _ = migrated
    ds = conf(dest, "dataset/mnist-dataset.yaml")
    assert ds["format"] == "idx" and ds["sources"] == ["file:///usr/share/datasets/fashion-mnist/",
                                                        "http://yann.lecun.com/exdb/mnist/"]
    assert {f["name"]: f["role"] for f in ds["files"]}["t10k-labels-idx1-ubyte.gz"] == "test_labels"
    assert all(f["sha256"] is None for f in ds["files"])
    single = conf(dest, "experiment/Tutorial-TF-Mnist.yaml")
    assert {"override /compute": "gpu-cluster"} in single["defaults"]
    assert single["entry"]["arguments"][:2] == ["--data-folder", "${dataset.path}"]
    assert single["entry"]["azureml_compat"] is True and single["entry"]["model_path"] == "outputs/model"
    assert single["registry"] == {"model_name": "tf-mnist", "tags": {"area": "digits", "azureml_framework": "TENSORFLOW 2.0"},
                                  "resource_configuration": {"cpu": 1.0, "memory_gb": 0.5, "gpu": 0}}
    hvd = conf(dest, "experiment/tf-mnist-horovod.yaml")
    assert {"override /distribution": "horovod"} in hvd["defaults"] and hvd["distribution"] == {"processes": 2}
    assert hvd["compute"] == {"nodes": 2, "tasks_per_node": 1}
    assert {"override /environment": "tensorflow-2.21-keras2-gpu"} in hvd["defaults"]   # curated TF 2.3 GPU: Keras 2
    ps = conf(dest, "experiment/tf-mnist-ps.yaml")
    assert {"override /distribution": "parameter_server"} in ps["defaults"] and ps["distribution"] == {"workers": 2, "ps": 1}
    assert conf(dest, "environment/ps-env.yaml")["pip"] == []          # pillow and tensorflow: the base's
    assert "pillow: provided by the base environment" in (dest / "conf" / "environment" / "ps-env.yaml").read_text()
    env = (dest / "conf" / "environment" / "tensorflow-2.2-gpu.yaml").read_text()
    for pin in ("azureml-defaults: not needed", "tensorflow-gpu==2.2.0: TensorFlow 2.2 came with Keras 2",
                "horovod==0.19.5: provided by trainkit's base", "python=3.7: trainkit's environments use Python 3.11",
                "Docker base image"):
        assert pin in env, pin
    assert yaml.safe_load(env)["keras"] == "2" and yaml.safe_load(env)["device"] == "gpu"
    compute = conf(dest, "compute/gpu-cluster.yaml")
    assert compute["defaults"][0] == "base_slurm" and compute["gpus_per_node"] == 1 and compute["cpus_per_task"] == 6
    est = conf(dest, "experiment/tf-mnist-estimator.yaml")
    assert {"override /compute": "local"} in est["defaults"] and est["entry"]["arguments"][-4:-2] == ["--batch-size", "50"]
    assert est["entry"]["arguments"][-2:] == ["--epochs", "${params.epochs}"] and est["params"] == {"epochs": 2}
    search = conf(dest, "hparams_search/tf-mnist-hyperdrive-hd_config.yaml")["hydra"]["sweeper"]
    assert (search["metric"], search["direction"], search["n_trials"], search["n_jobs"]) == ("accuracy", "maximize", 4, 2)
    assert search["sampler"] == "random"     # BanditPolicy(evaluation_interval=1, slack_factor=0.1, delay_evaluation=1)
    assert search["pruner"] == {"name": "bandit", "evaluation_interval": 1, "slack_factor": 0.1, "delay_evaluation": 1}
    assert search["params"]["params.batch_size"] == {"type": "choice", "choices": [32, 64, 128]}
    lr = search["params"]["params.learning_rate"]
    assert lr["type"] == "log_interval" and lr["low"] == pytest.approx(1.234e-4, rel=1e-3)
    searched = conf(dest, "experiment/tf-mnist-hyperdrive.yaml")
    assert "${params.batch_size}" in searched["entry"]["arguments"] and searched["params"]["batch_size"] == 64


# Every SDK call of the fixtures, read off their source by hand: (file, cell, line, how the call starts).
EXPECTED_CALLS = [
    ("distributed-horovod.ipynb", 0, 4, "Workspace.from_config("), ("distributed-horovod.ipynb", 1, 1, "Dataset.get_by_name("),
    ("distributed-horovod.ipynb", 1, 2, "ComputeTarget(workspace=ws"), ("distributed-horovod.ipynb", 1, 3, "Environment.get("),
    ("distributed-horovod.ipynb", 2, 1, "MpiConfiguration(node_count=2)"), ("distributed-horovod.ipynb", 2, 2, "ScriptRunConfig("),
    ("distributed-horovod.ipynb", 2, 3, "dataset.as_named_input('mnist')"),
    ("distributed-horovod.ipynb", 2, 3, "dataset.as_named_input('mnist').as_mount()"),
    ("distributed-horovod.ipynb", 2, 5, "Experiment(ws, 'tf-mnist-horovod')"),
    ("distributed-horovod.ipynb", 2, 5, "Experiment(ws, 'tf-mnist-horovod').submit(src)"),
    ("distributed-ps.ipynb", 0, 4, "Workspace.from_config("), ("distributed-ps.ipynb", 0, 5, "Dataset.get_by_name("),
    ("distributed-ps.ipynb", 1, 1, "Environment('ps-env')"), ("distributed-ps.ipynb", 1, 2, "CondaDependencies.create("),
    ("distributed-ps.ipynb", 2, 1, "TensorflowConfiguration("), ("distributed-ps.ipynb", 2, 2, "ScriptRunConfig("),
    ("distributed-ps.ipynb", 2, 3, "dataset.as_mount()"), ("distributed-ps.ipynb", 2, 5, "Experiment(ws, 'tf-mnist-ps')"),
    ("distributed-ps.ipynb", 2, 5, "Experiment(ws, 'tf-mnist-ps').submit(src)"),
    ("estimator.py", None, 5, "Workspace.from_config("), ("estimator.py", None, 6, "Dataset.get_by_name("),
    ("estimator.py", None, 8, "ds.as_named_input('mnist')"), ("estimator.py", None, 8, "ds.as_named_input('mnist').as_mount()"),
    ("estimator.py", None, 11, "TensorFlow(source_directory="), ("estimator.py", None, 13, "Experiment(ws, 'tf-mnist-estimator')"),
    ("estimator.py", None, 13, "Experiment(ws, 'tf-mnist-estimator').submit(est)"),
    ("estimator.py", None, 14, "run.wait_for_completion("),
    ("hyperdrive.ipynb", 0, 4, "Workspace.from_config("), ("hyperdrive.ipynb", 0, 5, "Dataset.get_by_name(ws, 'mnist-dataset')"),
    ("hyperdrive.ipynb", 1, 1, "ScriptRunConfig("), ("hyperdrive.ipynb", 1, 2, "dataset.as_mount()"),
    ("hyperdrive.ipynb", 2, 1, "RandomParameterSampling("), ("hyperdrive.ipynb", 2, 2, "choice(32, 64, 128)"),
    ("hyperdrive.ipynb", 2, 3, "loguniform(-9, -5)"), ("hyperdrive.ipynb", 2, 5, "BanditPolicy("),
    ("hyperdrive.ipynb", 2, 6, "HyperDriveConfig("), ("hyperdrive.ipynb", 3, 1, "Experiment(ws, 'tf-mnist-hyperdrive')"),
    ("hyperdrive.ipynb", 3, 1, "Experiment(ws, 'tf-mnist-hyperdrive').submit(hd_config)"),
    ("hyperdrive.ipynb", 3, 2, "hd_run.wait_for_completion("), ("hyperdrive.ipynb", 3, 3, "hd_run.get_best_run_by_primary_metric()"),
    ("hyperdrive.ipynb", 3, 4, "best.get_metrics()"),
    ("tf-mnist/tf_mnist.py", None, 22, "Run.get_context()"), ("tf-mnist/tf_mnist.py", None, 76, "run.log('loss'"),
    ("tf-mnist/tf_mnist.py", None, 77, "run.log('accuracy'"), ("tf-mnist/tf_mnist.py", None, 80, "run.log('final_accuracy'"),
    ("tf-mnist/tf_mnist.py", None, 81, "run.tag('framework', 'tf2')"),
    ("train-tensorflow.ipynb", 1, 10, "Workspace.from_config("), ("train-tensorflow.ipynb", 2, 7, "Dataset.File.from_files("),
    ("train-tensorflow.ipynb", 2, 8, "dataset.register("), ("train-tensorflow.ipynb", 2, 10, "dataset.to_path()"),
    ("train-tensorflow.ipynb", 4, 3, "ComputeTarget(workspace=ws, name=cluster_name)"),
    ("train-tensorflow.ipynb", 4, 6, "AmlCompute.provisioning_configuration("),
    ("train-tensorflow.ipynb", 4, 7, "ComputeTarget.create("), ("train-tensorflow.ipynb", 4, 8, "compute_target.wait_for_completion("),
    ("train-tensorflow.ipynb", 5, 1, "Environment.from_conda_specification("), ("train-tensorflow.ipynb", 6, 2, "dataset.as_mount()"),
    ("train-tensorflow.ipynb", 6, 6, "ScriptRunConfig("), ("train-tensorflow.ipynb", 7, 1, "Experiment(workspace=ws"),
    ("train-tensorflow.ipynb", 7, 1, "Experiment(workspace=ws, name='Tutorial-TF-Mnist').submit(src)"),
    ("train-tensorflow.ipynb", 7, 2, "run.wait_for_completion("), ("train-tensorflow.ipynb", 8, 4, "run.register_model("),
    ("train-tensorflow.ipynb", 8, 6, "ResourceConfiguration(cpu=1, memory_in_gb=0.5)"),
    ("train-tensorflow.ipynb", 9, 1, "run.download_files("), ("train-tensorflow.ipynb", 10, 1, "Model.deploy("),
    ("train-tensorflow.ipynb", 10, 2, "service.wait_for_deployment("),
]


def test_the_report_lists_every_sdk_call_with_where_and_what_it_became(migrated):
    dest, _ = migrated
    report = (dest / "MIGRATION.md").read_text()
    rows = [ln for ln in report.split("## Every SDK call")[1].split("\n## ")[0].splitlines()
            if ln.startswith("| ") and not ln.startswith("| where")]
    assert len(rows) == len(EXPECTED_CALLS) == 65
    for (name, cell, line, call), row in zip(EXPECTED_CALLS, rows):
        where = f"{name}" + (f" cell {cell}" if cell is not None else "") + f", line {line} |"
        assert where in row and f"`{call}" in row, (where, call, row)
        assert "**not mapped**" not in row, row
    for text, became in (("Model.deploy(", "`trainkit models serve tf-mnist`"),
                         ("hd_run.get_best_run_by_primary_metric()", "trainkit sweeps best tf-mnist-hyperdrive-hd_config"),
                         ("BanditPolicy(", "'name': 'bandit', 'evaluation_interval': 1, 'slack_factor': 0.1"),
                         ("dataset.register(", "dataset registration"),
                         ("compute_target.wait_for_completion(", "a note about the cluster, not the run")):
        assert any(text in r and became in r for r in rows), (text, became)


def test_existing_files_are_kept_and_nothing_readable_exits_2(tmp_path):
    dest = tmp_path / "p"
    (dest / "conf" / "dataset").mkdir(parents=True)
    mine = dest / "conf" / "dataset" / "mnist-dataset.yaml"
    mine.write_text("# mine\n")
    res = run_cli(["migrate", str(FIXTURES / "train-tensorflow.ipynb"), "--to", str(dest)])
    assert res.returncode == 0 and mine.read_text() == "# mine\n"
    assert "1 kept as they were" in res.stdout
    assert "mnist-dataset.yaml" in (dest / "MIGRATION.md").read_text().split("Files kept as they were")[1]
    res = run_cli(["migrate", str(FIXTURES / "broken.ipynb"), "--to", str(tmp_path / "q")])
    assert res.returncode == 2 and "nothing could be read" in res.stderr
    res = run_cli(["migrate", str(tmp_path / "nope.ipynb"), "--to", str(tmp_path / "q")])
    assert res.returncode == 2 and "no such file" in res.stderr


def test_check_names_the_experiment_file_and_key_of_a_problem(tmp_path):
    dest = tmp_path / "p"
    assert run_cli(["migrate", str(FIXTURES / "train-tensorflow.ipynb"), "--to", str(dest)]).returncode == 0
    experiment = dest / "conf" / "experiment" / "Tutorial-TF-Mnist.yaml"
    experiment.write_text(experiment.read_text() + "export:\n  onnx:\n    opset: 3\n")   # kept: migrate never overwrites it
    res = run_cli(["migrate", str(FIXTURES / "train-tensorflow.ipynb"), "--to", str(dest), "--check"])
    assert res.returncode == 2, res.stdout
    assert "conf/experiment/Tutorial-TF-Mnist.yaml: check: export.onnx.opset: expected" in res.stdout


def test_a_tensorflow_configuration_without_a_parameter_server_count_has_azures_one(tmp_path):
    import json as _json

    (tmp_path / "v1").mkdir()
    (tmp_path / "v1" / "train.py").write_text("print(1)\n")
    cells = ["from azureml.core import ScriptRunConfig, Experiment, Workspace\n"
             "from azureml.core.runconfig import TensorflowConfiguration\nws = Workspace.from_config()\n"
             "a = ScriptRunConfig('.', 'train.py', distributed_job_config=TensorflowConfiguration(worker_count=2))\n"
             "b = ScriptRunConfig('.', 'train.py', distributed_job_config=TensorflowConfiguration(2, 0))\n"
             "Experiment(ws, 'ps').submit(a)\nExperiment(ws, 'mwm').submit(b)\n"]
    (tmp_path / "v1" / "nb.ipynb").write_text(_json.dumps({"cells": [{"cell_type": "code", "source": c, "metadata": {},
                                                                    "outputs": [], "execution_count": None} for c in cells],
                                                         "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))
    dest = tmp_path / "out"
    assert run_cli(["migrate", str(tmp_path / "v1"), "--to", str(dest)]).returncode == 0
    assert conf(dest, "experiment/ps.yaml")["distribution"] == {"workers": 2, "ps": 1}
    assert conf(dest, "experiment/mwm.yaml")["distribution"] == {"workers": 2}
