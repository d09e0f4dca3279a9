"""MLflow logging into trainkit runs, without TensorFlow: real mlflow-skinny client calls in a child
process (as a script makes them) against a run record laid out as trainkit writes one, read back
through trainkit's CLI and records; the ids and URIs; the logged model put up for registration."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from trainkit.fsutil import atomic_write_json, read_json
from trainkit.tracking import experiment_id, mlflow_run_id, run_dir_of, script_env, tracking_uri

from ..conftest import run_cli

RUN_ID = "20261207-101500-abc123"


@pytest.fixture
def run_dir(workspace) -> Path:
    """A queued-then-running run record of experiment `exp1`, as `python -m trainkit` creates one."""
    root = workspace / "experiments" / "exp1" / "runs" / RUN_ID
    (root / "outputs").mkdir(parents=True)
    (root / "logs").mkdir()
    atomic_write_json(root / "job_spec.json", {"run_id": RUN_ID, "experiment": "exp1",
                                               "config": {"entry": {"model_path": "outputs/model.keras"}}})
    atomic_write_json(root / "status.json", {"state": "running", "run_id": RUN_ID, "experiment": "exp1",
                                             "started": 1796600000.0, "pid": os.getpid(), "host": os.uname().nodename})
    return root


def run_script(code: str, run_dir: Path, cwd: Path, **env) -> subprocess.CompletedProcess:
    """`code` in a child process with the variables trainkit's script worker sets."""
    inherited = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "TRAINKIT_RANK", "HOROVOD_"))}
    full = {**inherited, **script_env(RUN_ID, "exp1", run_dir), **env}
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=cwd, env=full, capture_output=True,
                          text=True, timeout=120)


def test_ids_are_stable_and_the_uri_names_the_run(tmp_path):
    assert mlflow_run_id(RUN_ID) == mlflow_run_id(RUN_ID) != mlflow_run_id(RUN_ID + "x")
    assert len(mlflow_run_id(RUN_ID)) == 32 and int(mlflow_run_id(RUN_ID), 16) >= 0
    assert experiment_id("exp1").isdigit() and experiment_id("exp1") != experiment_id("exp2")
    odd = tmp_path / "a run dir" / "with%sign"
    assert tracking_uri(odd).startswith("trainkit:///") and run_dir_of(tracking_uri(odd)) == odd
    with pytest.raises(ValueError, match="expected trainkit:///ABSOLUTE/RUN/DIR, got 'file:///x'"):
        run_dir_of("file:///x")
    env = script_env(RUN_ID, "exp1", odd)
    assert env == {"MLFLOW_TRACKING_URI": tracking_uri(odd), "MLFLOW_RUN_ID": mlflow_run_id(RUN_ID),
                   "MLFLOW_EXPERIMENT_ID": experiment_id("exp1")}
    assert script_env(RUN_ID, "exp1", odd, {"MLFLOW_TRACKING_URI": "http://mine:5000"}) == {}   # environment.env_vars wins


SCRIPT = """
    import mlflow
    mlflow.set_experiment("named-in-the-script")
    with mlflow.start_run() as run:
        print("RUN", run.info.run_id, run.info.artifact_uri)
        mlflow.log_param("lr", 0.01)
        mlflow.log_params({"batch_size": 32, "optimizer": "adam"})
        for step in range(3):
            mlflow.log_metric("custom", step * 0.5, step=step)
        mlflow.log_metrics({"a": 1.0, "b": 2.0}, step=5)
        mlflow.set_tag("team", "vision")
        mlflow.set_tags({"stage": "dev"})
        mlflow.log_dict({"classes": 10}, "meta/classes.json")
        mlflow.log_text("hello", "notes.txt")
        open("local.txt", "w").write("a file")
        mlflow.log_artifact("local.txt", "files")
        import matplotlib; matplotlib.use("Agg"); import matplotlib.pyplot as plt; import numpy as np
        figure = plt.figure(); plt.plot([1, 2, 3])
        mlflow.log_figure(figure, "plots/curve.png")
        mlflow.log_image(np.zeros((8, 8, 3), np.uint8), "images/black.png")
        mlflow.log_image(np.full((8, 8, 3), 255, np.uint8), key="white", step=1)
        with mlflow.start_run(nested=True, run_name="fold-1"):
            mlflow.log_metric("acc", 0.7, step=1)
            mlflow.log_param("fold", 1)
            mlflow.log_text("child", "child.txt")
        from mlflow.entities import Metric      # as log_model does: the step's values linked to a model, sent again
        mlflow.MlflowClient().log_batch(run.info.run_id, metrics=[Metric("custom", 1.0, 1, 2, model_id="m-1")])
        try:
            mlflow.log_param("lr", 0.02)
        except mlflow.exceptions.MlflowException as e:
            print("REFUSED", e.message)
    mlflow.log_metric("after_the_run", 3.0)       # no active run: MLflow starts one, which is this run again
    client = mlflow.MlflowClient()
    print("HISTORY", [(m.step, m.value) for m in client.get_metric_history(run.info.run_id, "custom")])
    print("SEARCH", sorted(r.info.run_name for r in mlflow.search_runs(output_format="list")))
    print("NESTED", [r.info.run_name for r in mlflow.search_runs(filter_string="params.fold = '1'", output_format="list")])
"""


def test_mlflow_calls_land_in_the_trainkit_run(run_dir, tmp_path):
    proc = run_script(SCRIPT, run_dir, tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout
    assert f"RUN {mlflow_run_id(RUN_ID)} {(run_dir / 'outputs').as_uri()}" in out      # MLFLOW_RUN_ID resumed
    assert "REFUSED Changing param values is not allowed. Param with key='lr'" in out
    assert "HISTORY [(0, 0.0), (1, 0.5), (2, 1.0)]" in out
    assert f"SEARCH ['{RUN_ID}', 'fold-1']" in out and "NESTED ['fold-1']" in out
    assert "mlflow.set_experiment('named-in-the-script'): this run belongs to trainkit experiment 'exp1'" in proc.stderr
    shown = json.loads(run_cli(["runs", "show", RUN_ID, "--json"]).stdout)
    assert shown["params"] == {"lr": "0.01", "batch_size": "32", "optimizer": "adam", "fold-1/fold": "1"}
    by_step = {h["step"]: h for h in shown["history"]}
    assert [by_step[s]["custom"] for s in (0, 1, 2)] == [0.0, 0.5, 1.0]
    assert by_step[5]["a"] == 1.0 and by_step[5]["b"] == 2.0 and by_step[1]["fold-1/acc"] == 0.7
    assert by_step[0]["after_the_run"] == 3.0
    assert shown["tags"] == {"team": "vision", "stage": "dev"}                  # MLflow's own tags stay on its side
    outputs = run_dir / "outputs"
    assert json.loads((outputs / "meta" / "classes.json").read_text()) == {"classes": 10}
    assert (outputs / "notes.txt").read_text() == "hello" and (outputs / "files" / "local.txt").read_text() == "a file"
    assert (outputs / "fold-1" / "child.txt").read_text() == "child"          # a nested run's artifacts
    assert (outputs / "plots" / "curve.png").read_bytes()[:4] == b"\x89PNG" and (outputs / "images" / "black.png").is_file()
    assert list((outputs / "images").glob("white+step+1+*.png"))              # log_image(key=, step=): MLflow's naming
    system = read_json(run_dir / "mlflow" / "runs" / mlflow_run_id(RUN_ID) / "tags.json")
    assert system["mlflow.source.type"] == "LOCAL" and "mlflow.user" in system


def test_another_rank_writes_nothing_into_the_trainkit_run(run_dir, tmp_path):
    proc = run_script("""
        import mlflow
        with mlflow.start_run():
            mlflow.log_param("lr", 0.5)
            mlflow.log_metric("loss", 1.0, step=0)
            mlflow.set_tag("rank", "1")
            mlflow.log_text("mine", "rank.txt")
    """, run_dir, tmp_path, TRAINKIT_RANK="1", TRAINKIT_WORLD_SIZE="2")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert not (run_dir / "metrics.jsonl").exists() and not (run_dir / "params.json").exists()
    assert not (run_dir / "tags.json").exists() and not list((run_dir / "outputs").iterdir())
    own = run_dir / "logs" / "mlflow-rank-1"
    assert (own / "artifacts" / "rank.txt").read_text() == "mine"
    assert read_json(own / "runs" / mlflow_run_id(RUN_ID) / "params.json") == {"lr": "0.5"}


LOGS_A_MODEL = """
    import mlflow, os, time
    from mlflow.entities import LoggedModelStatus
    client = mlflow.MlflowClient()
    with mlflow.start_run() as run:
        model = client.create_logged_model(run.info.experiment_id, name="model", source_run_id=run.info.run_id)
        folder = model.artifact_location.removeprefix("file://")
        os.makedirs(folder + "/data")
        open(folder + "/MLmodel", "w").write("flavors:\\n  keras: {data: data}\\n")
        open(folder + "/data/model.keras", "wb").write(b"not really a model")
        client.finalize_logged_model(model.model_id, LoggedModelStatus.READY)
        print("MODEL", folder)
        if os.environ.get("ALSO_SAVE"):
            open("outputs/model.keras", "wb").write(b"the script's own")
"""


@pytest.mark.parametrize("also_save", [False, True])
def test_the_logged_keras_model_is_put_up_for_registration_unless_the_script_saved_one(run_dir, also_save):
    code = run_dir / "code"
    code.mkdir()
    (code / "outputs").symlink_to(Path("..") / "outputs")
    proc = run_script(LOGS_A_MODEL, run_dir, code, **({"ALSO_SAVE": "1"} if also_save else {}))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert f"MODEL {run_dir / 'outputs' / 'mlflow-models' / 'model'}" in proc.stdout
    request = read_json(run_dir / "register_model.json")
    if also_save:
        assert request is None                     # the script's own model at entry.model_path is registered
    else:
        assert request == {"path": "outputs/mlflow-models/model/data/model.keras", "from": "mlflow"}
        assert "the model MLflow logged (outputs/mlflow-models/model/data/model.keras) is registered" in proc.stderr


def test_no_run_record_there_is_a_clear_mlflow_error(tmp_path):
    proc = run_script("import mlflow; mlflow.start_run()", tmp_path / "nothing", tmp_path)
    assert proc.returncode == 1
    assert f"no trainkit run there (expected {tmp_path / 'nothing' / 'job_spec.json'})" in proc.stderr


def test_an_export_to_a_server_that_is_not_there_fails_soon_naming_it(run_dir):
    import socket
    import time

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}"      # nothing listens there once closed
    started = time.monotonic()
    proc = run_cli(["runs", "export", RUN_ID, "--to", "mlflow", "--tracking-uri", dead], timeout=120)
    assert proc.returncode == 1 and time.monotonic() - started < 60
    assert proc.stderr.startswith(f"error: export of run {RUN_ID} to {dead}: ") and "Connection refused" in proc.stderr
    assert proc.stdout == ""
