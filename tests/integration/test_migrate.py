"""A migrated Azure ML SDK v1 project runs: the single-node experiment `trainkit migrate` wrote
trains its unchanged script on Fashion-MNIST (the dataset mapped to the offline mirror) and
registers its model with ONNX parity."""
from __future__ import annotations

import json

import pytest

from ..conftest import FASHION, ROOT, run_cli, run_trainkit

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(not FASHION.exists(), reason="needs apt-get install dataset-fashion-mnist")]


def test_the_migrated_single_node_experiment_trains_unchanged_and_registers(workspace, tmp_path):
    fixtures = ROOT / "tests" / "fixtures" / "azureml"
    dest = tmp_path / "migrated"
    res = run_cli(["migrate", str(fixtures), "--to", str(dest), "--check",
                   "--mirror", f"http://yann.lecun.com/exdb/mnist/=file://{FASHION}/"])
    assert res.returncode == 0, res.stdout + res.stderr
    assert (dest / "tf-mnist" / "tf_mnist.py").read_bytes() == (fixtures / "tf-mnist" / "tf_mnist.py").read_bytes()
    proc = run_trainkit(["+experiment=Tutorial-TF-Mnist", "compute=local"], cwd=dest, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "azureml.core.Run from azureml.core.run" in proc.stdout      # the script's own import, answered by trainkit
    [run] = json.loads(run_cli(["runs", "list", "--json"]).stdout)
    shown = json.loads(run_cli(["runs", "show", run["id"], "--json"]).stdout)
    assert shown["experiment"] == "Tutorial-TF-Mnist" and shown["metrics"]["final_accuracy"] > 0.8
    assert shown["dataset"]["name"] == "mnist-dataset"
    model = json.loads(run_cli(["models", "show", "tf-mnist", "--json"]).stdout)
    assert model["run_id"] == run["id"] and model["onnx"]["status"] == "ok"
    assert model["tags"]["area"] == "digits" and model["resource_configuration"]["memory_gb"] == 0.5
