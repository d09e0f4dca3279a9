"""An MLflow-instrumented v1 workflow (a job script building its paths from `__file__`, `src/train.py`
with `mlflow.tensorflow.autolog()` and `tf.keras.datasets.mnist.load_data()`, a conda YAML with
azureml-mlflow) migrates, passes --check, and its smoke command trains here offline (Debian's
Fashion-MNIST answering the Keras loader) with its MLflow metrics and parameters in the trainkit run."""
from __future__ import annotations

import json
import re

import pytest
import yaml

from ..conftest import ROOT, run_cli, run_trainkit

pytestmark = pytest.mark.integration

PROJECT = ROOT / "tests" / "fixtures" / "v1mlflow"


def test_an_mlflow_workflow_migrates_and_trains_offline_with_its_mlflow_metrics(tmp_path):
    dest, ws = tmp_path / "project", tmp_path / "ws"
    res = run_cli(["migrate", str(PROJECT), "--to", str(dest), "--check"], timeout=300)
    assert res.returncode == 0 and ": check: " not in res.stdout, res.stdout + res.stderr
    experiment = yaml.safe_load((dest / "conf" / "experiment" / "keras-mnist-mlflow.yaml").read_text())
    assert experiment["entry"]["source_dir"] == "src"                       # Path(__file__).parent.joinpath("src")
    assert experiment["entry"]["arguments"][-2:] == ["--model-dir", "./outputs/keras-model"]   # os.path.join resolved
    assert experiment["entry"]["keras_datasets"] == {"mnist": "mnist"}
    env = (dest / "conf" / "environment" / "keras-mlflow.yaml").read_text()
    assert "azureml-mlflow: mlflow-skinny instead" in env and yaml.safe_load(env)["pip"] == []
    smoke = re.search(r"`trainkit train (\+experiment=keras-mnist-mlflow compute=local [^`]*)`",
                      (dest / "MIGRATION.md").read_text()).group(1).split()
    offline = ["dataset=fashion_mnist", "entry.keras_datasets={mnist: fashion_mnist}"]   # as the report's note says
    proc = run_trainkit([*smoke, *offline], cwd=dest, env={"TRAINKIT_WORKSPACE": str(ws)}, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "keras.datasets.mnist.load_data() answered by trainkit dataset fashion_mnist" in proc.stdout + proc.stderr
    run_id = re.search(r"run (\S+) completed", proc.stdout).group(1)
    shown = json.loads(run_cli(["runs", "show", run_id, "--json"], env={"TRAINKIT_WORKSPACE": str(ws)}).stdout)
    assert shown["params"]["units"] == "128" and shown["params"]["epochs"] == "1"          # log_param + autolog
    first = shown["history"][0]
    assert {"loss", "accuracy", "val_loss"} <= set(first)                                  # autologged per epoch
    steps = [row["step"] for row in shown["history"] if "digit_accuracy" in row]
    assert steps == list(range(10))                                                        # a stepped log_metric
