"""Azure ML SDK v1 notebooks (tests/fixtures/v1notebooks) executed top to bottom with nbclient on a
real kernel, unchanged but for one added first cell (`%load_ext trainkit.azureml`): their data comes
from the MNIST web URLs through a mirror (Debian's Fashion-MNIST, same file names), and every cell's
output is checked for Azure's shape (status words, metric dicts, file names, arguments), then the
trainkit record behind it."""
from __future__ import annotations

import ast
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ..conftest import FASHION, ROOT, run_cli

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(not FASHION.exists(), reason="needs apt-get install dataset-fashion-mnist")]
NOTEBOOKS = ROOT / "tests" / "fixtures" / "v1notebooks"
MIRROR = f"http://yann.lecun.com/exdb/mnist/=file://{FASHION}/"
ACTIVATE = "%load_ext trainkit.azureml"
HAVE_HOROVOD = Path(sys.executable).with_name("horovodrun").exists()


def run_notebook(name: str, where: Path, first_cell: str | None = ACTIVATE, env: dict | None = None) -> list[str]:
    """Execute a fixture notebook in `where` with `first_cell` added; each code cell's output text."""
    import nbformat
    from nbclient import NotebookClient
    from nbformat.v4 import new_code_cell

    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    if first_cell is not None:
        nb.cells.insert(0, new_code_cell(first_cell))
    client = NotebookClient(nb, timeout=900, kernel_name="python3", resources={"metadata": {"path": str(where)}})
    saved = dict(os.environ)
    os.environ.update(env or {})
    try:
        client.execute()
    finally:
        os.environ.clear()
        os.environ.update(saved)
        nbformat.write(nb, where / f"executed-{name}")   # what ran, outputs and all (for a failure's reader)
    return [cell_text(c) for c in nb.cells if c.cell_type == "code"]


def cell_text(cell) -> str:
    parts = []
    for o in cell.get("outputs", []):
        parts.append(o.get("text", ""))
        data = o.get("data", {})
        parts += [data.get("text/plain", ""), data.get("text/html", "")]
    return "".join(parts)


def literal(text: str, start: str):
    """The Python literal printed from the line starting with `start` (a repr, one line or pretty-printed)."""
    lines = text.splitlines()
    first = next(i for i, ln in enumerate(lines) if ln.startswith(start))
    for last in range(first, len(lines)):
        try:
            return ast.literal_eval("\n".join(lines[first:last + 1]))
        except SyntaxError:
            continue
    raise AssertionError(f"no literal from {start!r} in {text!r}")


@pytest.fixture
def mirrored(workspace, monkeypatch):
    monkeypatch.setenv("TRAINKIT_MIRRORS", MIRROR)
    return workspace


def test_train_register_download_on_local_with_a_curated_era_environment(mirrored, tmp_path):
    shutil.copy(NOTEBOOKS / "tf-mnist" / "tf_mnist.py", tmp_path / "tf_mnist.py")
    out = run_notebook("tf-train-register.ipynb", tmp_path)
    everything = "\n".join(out)
    assert "Traceback" not in everything, everything[-4000:]
    assert "SDK version: 1.60.0" in out[1] and "Region: local" in out[2]
    assert literal(out[3], "[") == ["/train-images-idx3-ubyte.gz", "/train-labels-idx1-ubyte.gz",
                                    "/t10k-images-idx3-ubyte.gz", "/t10k-labels-idx1-ubyte.gz"]
    assert "Creating a new compute target..." in out[4] and "Succeeded" in out[4]
    assert "AmlCompute Succeeded {'minNodeCount': 0, 'maxNodeCount': 4, 'nodeIdleTimeBeforeScaleDown': 'PT1800S'}" in out[4]
    submit = out[8]
    for expected in ("tensorflow-gpu==2.2.0: TensorFlow 2.2 came with Keras 2", "python=3.6.2: trainkit's environments "
                     "use Python 3.11", "azureml-defaults: not needed", "h5py<=2.10.0: the base environment has h5py",
                     "keras<=2.3.1: Keras 2", "Docker image mcr.microsoft.com/azureml/openmpi3.1.2-cuda10.1-cudnn7-"
                     "ubuntu18.04: recorded, not used", "fixed in the run's copy of the code: tf_mnist.py:27 np.float -> float",
                     "fixed in the run's copy of the code: tf_mnist.py:29 np.float -> float"):
        assert expected in submit, submit
        assert everything.count(expected) == 1            # each change printed once
    assert "<td>Tutorial-TF-Mnist</td>" in submit and "<td>azureml.scriptrun</td>" in submit
    run_id = re.search(r"<td>(\d{8}-\d{6}-[0-9a-f]{6})</td>", submit).group(1)
    assert "test accuracy:" in out[10] and "'status': 'Completed'" in out[10] and f"'runId': '{run_id}'" in out[10]
    assert out[10].startswith(f"RunId: {run_id}\nWeb View: http://127.0.0.1:8265/runs/{run_id}\n\nStreaming azureml-logs/")
    assert "Execution Summary\n=================" in out[10]
    status, metrics_line, files_line = out[11].splitlines()[:3]
    metrics, files = ast.literal_eval(metrics_line), ast.literal_eval(files_line)
    assert status == "Completed" and sorted(metrics) == ["final_acc", "loss", "val_accuracy"]
    assert len(metrics["val_accuracy"]) == 2 and len(metrics["loss"]) == 2 and isinstance(metrics["final_acc"], float)
    assert 0.5 < metrics["final_acc"] <= 1 and metrics["final_acc"] == pytest.approx(metrics["val_accuracy"][-1], abs=1e-6)
    assert {"azureml-logs/70_driver_log.txt", "outputs/model/saved_model.pb", "logs/stdout.log"} <= set(files)
    assert not [f for f in files if f.startswith(("code/", "job_spec", "status.json", "dataset/"))]
    assert literal(out[12], "[") == ["--data-folder", "DatasetConsumptionConfig:mnist", "--batch-size", "64",
                                     "--first-layer-neurons", "128", "--second-layer-neurons", "64",
                                     "--learning-rate", "0.002", "--epochs", "2"]
    assert literal(out[13], "[") == ["final_acc", "loss", "reviewed", "val_accuracy", "validation accuracy"]
    assert "tf-mnist\t1\t{'area': 'mnist'}" in out[14]
    assert {"saved_model.pb", "variables"} <= set(literal(out[15], "["))
    assert "saved_model.pb" in literal(out[16], "[")
    assert "not registered: UserErrorException" in out[17]
    # the trainkit record behind the cells
    shown = json.loads(run_cli(["runs", "show", run_id, "--json"]).stdout)
    assert shown["status"] == "completed" and shown["experiment"] == "Tutorial-TF-Mnist"
    record = Path(shown["path"])
    assert "astype(float)" in (record / "code" / "tf_mnist.py").read_text()       # the run's copy was fixed
    assert "astype(np.float)" in (tmp_path / "tf-mnist" / "tf_mnist.py").read_text()   # the user's file was not
    azure = json.loads((record / "azureml.json").read_text())
    assert azure["fixes"] == ["tf_mnist.py:27 np.float -> float", "tf_mnist.py:29 np.float -> float"]
    assert json.loads((record / "environment.json").read_text())["tf_keras"] == "2.21.0"   # the Keras 2 environment
    model = json.loads(run_cli(["models", "show", "tf-mnist", "--json"]).stdout)
    assert model["run_id"] == run_id and model["tags"]["area"] == "mnist" and model["onnx"]["status"] == "ok"


@pytest.mark.skipif(not HAVE_HOROVOD, reason="needs bash scripts/build_horovod.sh")
def test_horovod_with_two_processes_per_node(mirrored, tmp_path):
    shutil.copytree(NOTEBOOKS / "tf-horovod", tmp_path / "tf-horovod")
    out = run_notebook("tf-horovod.ipynb", tmp_path)
    everything = "\n".join(out)
    assert "Traceback" not in everything, everything[-4000:]
    assert "mnist-dataset 1" in out[3] and "tf-horovod 1" in out[5]
    assert "[rank 1] horovod rank 1 of 2" in out[7] and out[7].rstrip().endswith("Completed")
    logs = ["azureml-logs/70_driver_log_0.txt", "azureml-logs/70_driver_log_1.txt"]
    assert literal(out[8], "['azureml") == logs
    assert literal(out[8], "['70") == ["70_driver_log_0.txt", "70_driver_log_1.txt"]
    assert "horovod rank 1 of 2" in (tmp_path / "driver-logs" / "70_driver_log_1.txt").read_text()
    accuracy = literal(out[9], "{")
    assert list(accuracy) == ["val_accuracy"] and len(accuracy["val_accuracy"]) == 2
    assert out[9].splitlines()[1] == "2.0 {'layout': '1 node x 2 processes'}"
    run_id = re.search(r"Id: (\S+),", out[6]).group(1)
    shown = json.loads(run_cli(["runs", "show", run_id, "--json"]).stdout)
    assert shown["status"] == "completed" and "distribution.processes=2" in shown["overrides"]


def test_hyperdrive_with_a_bandit_policy_and_the_best_run(mirrored, tmp_path):
    shutil.copy(NOTEBOOKS / "tf-mnist" / "tf_mnist.py", tmp_path / "tf_mnist.py")
    out = run_notebook("tf-hyperdrive.ipynb", tmp_path)
    everything = "\n".join(out)
    assert "Traceback" not in everything, everything[-4000:]
    assert out[7].rstrip().endswith("Completed")
    best_id = out[8].splitlines()[0]
    best_args = literal(out[8], "['--data-folder'")
    chosen = literal(out[8], "{")
    assert chosen["--data-folder"] == "DatasetConsumptionConfig:mnist" and chosen["--epochs"] == "3"
    assert chosen["--batch-size"] in ("64", "128") and chosen["--first-layer-neurons"] in ("16", "64", "128")
    assert 2.7e-4 < float(chosen["--learning-rate"]) < 1.9e-2 and len(best_args) == 2 * len(chosen)
    rows = [line.split(" ", 3) for line in out[9].splitlines()]
    assert len(rows) == 4 and rows[0][0] == best_id
    assert all(status in ("Completed", "Canceled") for _, status, _, _ in rows)
    scores = [float(score) for _, _, score, _ in rows]
    assert scores == sorted(scores, reverse=True)
    best_metrics = literal(out[10], "{")
    assert round(max(best_metrics["val_accuracy"]), 4) == scores[0]
    assert out[10].splitlines()[1] == "4 True"
    assert "tf-mnist-tuned 1" in out[11]
    # the sweep behind it: trainkit's Optuna search with Azure's bandit policy, its trials ordinary runs
    [sweep] = [p for p in (mirrored / "sweeps").iterdir() if p.is_dir()]
    record = json.loads((sweep / "azureml.json").read_text())
    search = (mirrored / "azureml" / "conf" / "hparams_search" / f"{record['study']}.yaml").read_text()
    assert "name: bandit" in search and "slack_factor: 0.1" in search and "delay_evaluation: 1" in search
    assert "sampler: random" in search and "n_trials: 4" in search and "n_jobs: 2" in search
    trials = [r for r in json.loads(run_cli(["runs", "list", "--json"]).stdout) if r["experiment"] == "tf-mnist-hyperdrive"]
    assert len(trials) == 4 and best_id in {r["id"] for r in trials}


def test_trainkit_azureml_1_in_the_kernel_environment_activates_without_the_extension(workspace, tmp_path):
    """TRAINKIT_AZUREML=1 (trainkit_azureml.pth, installed with trainkit into site-packages): no first cell."""
    from nbclient import NotebookClient
    from nbformat.v4 import new_code_cell, new_notebook

    nb = new_notebook(cells=[new_code_cell("import azureml.core\nfrom azureml.core import Workspace\n"
                                           "print(azureml.core.__file__)\nprint(Workspace.from_config().location)")])
    saved = dict(os.environ)
    os.environ["TRAINKIT_AZUREML"] = "1"
    try:
        NotebookClient(nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    finally:
        os.environ.clear()
        os.environ.update(saved)
    shim = subprocess.run([sys.executable, "-c", "import trainkit.shimpath as s; print(s.PATH)"],
                          capture_output=True, text=True).stdout.strip()
    assert cell_text(nb.cells[0]).splitlines() == [f"{shim}/azureml/core/__init__.py", "local"]
