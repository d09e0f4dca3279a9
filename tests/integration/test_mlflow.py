"""Scripts that log with MLflow, unchanged, under trainkit: mlflow.tensorflow.autolog(), a parameter and
a metric per epoch land in the trainkit run (one process, and Horovod with two), the autologged model
registers with ONNX parity, the same script outside trainkit logs to MLflow's own store, a run exports
to a real `mlflow server` (read back with MlflowClient, twice without duplicates), and
`tf.keras.datasets.mnist.load_data()` is answered offline by a trainkit dataset (entry.keras_datasets)."""
from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ..conftest import FASHION, ROOT, run_cli, run_trainkit

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(not FASHION.exists(), reason="needs apt-get install dataset-fashion-mnist")]
HAVE_HOROVOD = Path(sys.executable).with_name("horovodrun").exists()
SCRIPTS = ROOT / "tests" / "scripts"
SERVER = ROOT / ".cache" / "mlflow-server" / "bin" / "mlflow"   # scripts/setup.sh builds it (full MLflow)
SCRIPT = ["entry=script", f"entry.source_dir={SCRIPTS}", "entry.script=mlflow_keras.py"]
ARGS = 'entry.arguments=["--data-folder=${dataset.path}","--epochs=2","--limit=3000"'


def finished(proc, env: dict) -> dict:
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    run_id = re.search(r"run (\S+) completed", proc.stdout).group(1)
    return json.loads(run_cli(["runs", "show", run_id, "--json"], env=env).stdout)


@pytest.fixture(scope="module")
def env(tmp_path_factory) -> dict:
    return {"TRAINKIT_WORKSPACE": str(tmp_path_factory.mktemp("mlflow") / "ws")}


@pytest.fixture(scope="module")
def logged(env) -> dict:
    """One run of the MLflow script on one process (shared by the tests that read it)."""
    return finished(run_trainkit([*SCRIPT, ARGS + "]", "run.experiment=mlflow_one"], env=env), env)


def check_logged(run: dict, epochs: int = 2) -> None:
    by_step = {h["step"]: h for h in run["history"]}
    assert sorted(s for s, h in by_step.items() if "loss" in h) == list(range(epochs))   # autologged per epoch
    for step in range(epochs):
        assert 0 < by_step[step]["accuracy"] <= 1
        assert by_step[step]["double_loss"] == pytest.approx(2 * by_step[step]["loss"], rel=1e-6)   # its own, same step
    assert 0.6 < run["metrics"]["test_accuracy"] <= 1
    assert run["params"]["hidden_units"] == "64" and run["params"]["epochs"] == str(epochs)   # its own and autolog's
    assert run["tags"]["script"] == "mlflow_keras"


def test_an_autologging_script_logs_into_its_run_and_its_model_registers(logged, env):
    check_logged(logged)
    path = Path(logged["path"])
    assert json.loads((path / "outputs" / "meta" / "classes.json").read_text()) == {"classes": 10, "rank": 0}
    assert (path / "outputs" / "mlflow-models" / "model" / "MLmodel").is_file()
    model = json.loads(run_cli(["models", "show", "mlflow_one", "--json"], env=env).stdout)
    assert model["run_id"] == logged["id"] and model["onnx"]["status"] == "ok" and model["onnx"]["max_abs_diff"] < 1e-4
    assert model["signature"]["inputs"][0]["shape"] == [None, 28, 28]
    import trainkit as tk

    api = tk.Workspace(env["TRAINKIT_WORKSPACE"]).get_run(logged["id"])
    assert api.params["hidden_units"] == "64" and [h["step"] for h in api.history() if "loss" in h] == [0, 1]


@pytest.mark.skipif(not HAVE_HOROVOD, reason="needs bash scripts/build_horovod.sh")
def test_under_horovod_rank_0_logs_and_its_model_registers(env):
    run = finished(run_trainkit([*SCRIPT, ARGS + ',"--horovod"]', "distribution=horovod", "distribution.processes=2",
                                 "run.experiment=mlflow_hvd"], env=env), env)
    check_logged(run)
    path = Path(run["path"])
    assert json.loads((path / "outputs" / "meta" / "classes.json").read_text())["rank"] == 0
    assert not any("rank" in json.loads(line) for line in (path / "metrics.jsonl").read_text().splitlines())
    other = path / "logs" / "mlflow-rank-1"        # rank 1's own MLflow data, not the run's
    assert json.loads((other / "artifacts" / "meta" / "classes.json").read_text())["rank"] == 1
    model = json.loads(run_cli(["models", "show", "mlflow_hvd", "--json"], env=env).stdout)
    assert model["run_id"] == run["id"] and model["onnx"]["status"] == "ok"


def test_outside_trainkit_the_same_script_logs_to_mlflows_own_store(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "TRAINKIT_"))}
    env["HOME"] = str(tmp_path)
    proc = subprocess.run([sys.executable, str(SCRIPTS / "mlflow_keras.py"), f"--data-folder={FASHION}", "--epochs=1",
                           "--limit=2000"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    run_id = re.search(r"mlflow run (\w+)", proc.stdout).group(1)
    from mlflow import MlflowClient
    from mlflow.tracking._tracking_service.utils import _get_default_tracking_uri

    cwd = os.getcwd()
    os.chdir(tmp_path)                     # MLflow's default store is relative to the working directory
    try:
        uri = _get_default_tracking_uri()
        run = MlflowClient(uri).get_run(run_id)
    finally:
        os.chdir(cwd)
    assert not uri.startswith("trainkit") and run.data.params["hidden_units"] == "64"
    assert [m.step for m in MlflowClient(uri).get_metric_history(run_id, "double_loss")] == [0]
    assert not (tmp_path / ".trainkit").exists() and "trainkit" not in proc.stderr


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """A real MLflow tracking server on 127.0.0.1 (sqlite store, proxied artifacts)."""
    assert SERVER.exists(), f"{SERVER} missing: run `bash scripts/setup.sh` (it builds the MLflow server's environment)"
    home, port = tmp_path_factory.mktemp("mlflow-server"), free_port()
    proc = subprocess.Popen([str(SERVER), "server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
                             "--backend-store-uri", f"sqlite:///{home}/mlflow.db", "--artifacts-destination",
                             str(home / "artifacts")], stdout=open(home / "server.log", "w"), stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    import requests

    deadline = time.monotonic() + 300   # MLflow's server imports a lot: minutes on a loaded 2-core machine
    while True:
        try:
            if requests.get(f"{url}/health", timeout=2).ok:
                break
        except (requests.ConnectionError, requests.Timeout):   # not listening yet, or still starting up
            pass
        assert proc.poll() is None and time.monotonic() < deadline, (home / "server.log").read_text()[-3000:]
        time.sleep(0.5)
    yield url
    proc.terminate()
    proc.wait(timeout=30)


def test_a_run_exports_to_a_real_mlflow_server_once(logged, env, server, tmp_path):
    first = json.loads(run_cli(["runs", "export", logged["id"], "--to", "mlflow", "--tracking-uri", server, "--json"],
                               env=env, timeout=300).stdout)[0]
    import trainkit as tk

    again = tk.Workspace(env["TRAINKIT_WORKSPACE"]).get_run(logged["id"]).export_mlflow(server)
    assert first["created"] and not again["created"] and again["mlflow_run_id"] == first["mlflow_run_id"]
    from mlflow import MlflowClient

    client = MlflowClient(server)
    [run] = client.search_runs([first["experiment_id"]])                       # one MLflow run, after two exports
    assert run.info.run_id == first["mlflow_run_id"] and run.info.status == "FINISHED"
    assert run.data.params["hidden_units"] == "64" and run.data.tags["trainkit.run_id"] == logged["id"]
    assert run.data.tags["script"] == "mlflow_keras"
    by_step = {h["step"]: h for h in logged["history"]}
    for key in ("loss", "accuracy", "double_loss"):
        history = client.get_metric_history(run.info.run_id, key)
        assert [(m.step, m.value) for m in history] == [(s, by_step[s][key]) for s in (0, 1)]   # once each, same numbers
        assert all(m.timestamp > 1.7e12 for m in history)
    assert run.data.metrics["test_accuracy"] == logged["metrics"]["test_accuracy"]
    files = {f.path for f in client.list_artifacts(run.info.run_id)}
    assert {"meta", "mlflow-models", "registered-model"} <= files
    [version] = client.search_model_versions("name = 'mlflow_one'")
    assert version.run_id == run.info.run_id and version.tags["trainkit.model"] == "mlflow_one:1"
    got = Path(client.download_artifacts(run.info.run_id, "registered-model", str(tmp_path)))
    assert (got / "model.onnx").is_file() and (got / "model.keras").is_file()


def test_keras_datasets_answer_tf_keras_load_data_offline(env, tmp_path):
    no_cache = ["+environment.env_vars={KERAS_HOME: " + str(tmp_path / "keras") + "}"]   # nothing cached to fall back on
    run = finished(run_trainkit([*SCRIPT, 'entry.arguments=["--keras-loader=mnist","--epochs=1","--limit=3000"]',
                                 "+entry.keras_datasets={mnist: fashion_mnist}", "run.experiment=keras_ds", *no_cache],
                                env=env), env)
    out = (Path(run["path"]) / "logs" / "stdout.log").read_text()
    assert "load_data: x_train uint8 (60000, 28, 28), y_train uint8 (60000,), x_test (10000, 28, 28), y_test (10000,)" in out
    assert run["status_detail"]["keras_datasets"]["mnist"]["name"] == "fashion_mnist"
    assert run["metrics"]["test_accuracy"] > 0.6                    # it learned Fashion-MNIST through Keras's loader
    failed = run_trainkit([*SCRIPT, 'entry.arguments=["--keras-loader=mnist","--epochs=1"]', "run.experiment=keras_no",
                           *no_cache], env=env)
    assert failed.returncode == 1
    detail = json.loads(run_cli(["runs", "list", "--experiment", "keras_no", "--json"], env=env).stdout)[0]
    err = (Path(detail["path"]) / "logs" / "stderr.log").read_text()
    assert "could not download https://storage.googleapis.com/tensorflow/tf-keras-datasets/mnist.npz" in err
    assert "entry.keras_datasets={mnist: DATASET}" in err and "During handling" not in err


def test_keras_datasets_answer_keras2_scripts_too(env):
    run = finished(run_trainkit(["environment=tensorflow-2.21-keras2-cpu", "entry=script", f"entry.source_dir={SCRIPTS}",
                                 "entry.script=keras_loader.py", "+entry.keras_datasets={mnist: fashion_mnist}",
                                 "run.experiment=keras2_ds"], env=env), env)
    out = (Path(run["path"]) / "logs" / "stdout.log").read_text()
    assert re.search(r"load_data: keras 2\.21\.\d+ x_train uint8 \(60000, 28, 28\), y_train uint8 \(60000,\), "
                     r"x_test \(10000, 28, 28\), y_test \(10000,\)", out), out[-2000:]
