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
    assert single["registry"] == {"model_name": "tf-mnist", "tags": {"area": "digits"},
                                  "resource_configuration": {"cpu": 1.0, "memory_gb": 0.5, "gpu": 0}}
    hvd = conf(dest, "experiment/tf-mnist-horovod.yaml")
    assert {"override /distribution": "horovod"} in hvd["defaults"] and hvd["distribution"] == {"processes": 2}
    assert hvd["compute"] == {"nodes": 2, "tasks_per_node": 1}
    assert {"override /environment": "tensorflow-2.21-gpu"} in hvd["defaults"]      # the curated GPU environment
    ps = conf(dest, "experiment/tf-mnist-ps.yaml")
    assert {"override /distribution": "parameter_server"} in ps["defaults"] and ps["distribution"] == {"workers": 2, "ps": 1}
    assert conf(dest, "environment/ps-env.yaml")["pip"] == ["pillow"]                # tensorflow left to the base
    env = (dest / "conf" / "environment" / "tensorflow-2.2-gpu.yaml").read_text()
    assert "azureml-defaults, tensorflow-gpu==2.2.0, horovod==0.19.5" in env and "Docker base image" in env
    compute = conf(dest, "compute/gpu-cluster.yaml")
    assert compute["defaults"][0] == "base_slurm" and compute["gpus_per_node"] == 1 and compute["cpus_per_task"] == 6
    est = conf(dest, "experiment/tf-mnist-estimator.yaml")
    assert {"override /compute": "local"} in est["defaults"] and est["entry"]["arguments"][-2:] == ["--batch-size", "50"]
    search = conf(dest, "hparams_search/tf-mnist-hyperdrive-hyperdrive.yaml")["hydra"]["sweeper"]
    assert (search["metric"], search["direction"], search["n_trials"], search["n_jobs"]) == ("accuracy", "maximize", 4, 2)
    assert search["sampler"] == "random" and search["pruner"]["name"] == "median" and search["pruner"]["n_warmup_steps"] == 1
    assert search["params"]["params.batch_size"] == {"type": "choice", "choices": [32, 64, 128]}
    lr = search["params"]["params.learning_rate"]
    assert lr["type"] == "log_interval" and lr["low"] == pytest.approx(1.234e-4, rel=1e-3)
    searched = conf(dest, "experiment/tf-mnist-hyperdrive.yaml")
    assert "${params.batch_size}" in searched["entry"]["arguments"] and searched["params"]["batch_size"] == 64


def test_the_report_lists_every_sdk_call_with_where_and_what_it_became(migrated):
    from trainkit.migrate.analyze import analyze
    from trainkit.migrate.source import read

    dest, _ = migrated
    report = (dest / "MIGRATION.md").read_text()
    calls = analyze(read([FIXTURES]))
    rows = [ln for ln in report.splitlines() if ln.startswith("| ") and " | `" in ln]
    assert len(rows) == len(calls) >= 50
    for c in calls:
        assert f"| {c.where} |" in report, c.where
    for text in ("Dataset.File.from_files(path=web_paths)", "MpiConfiguration(node_count=2)",
                 "TensorflowConfiguration(worker_count=2, parameter_server_count=1)", "BanditPolicy(",
                 "Model.deploy(ws, 'tensorflow-web-service', [model])", "run.register_model(model_name='tf-mnist'"):
        assert text in report, text
    assert "`trainkit models serve" in report
    assert not [ln for ln in rows if "**not mapped**" in ln and "Dataset" in ln]


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
    experiment.write_text(experiment.read_text() + "trainer:\n  epochs: 0\n")   # kept: migrate never overwrites it
    res = run_cli(["migrate", str(FIXTURES / "train-tensorflow.ipynb"), "--to", str(dest), "--check"])
    assert res.returncode == 2
    assert "conf/experiment/Tutorial-TF-Mnist.yaml: trainer.epochs: expected an integer >= 1, got 0" in res.stdout
