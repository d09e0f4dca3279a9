"""Script mode with real processes: your own training scripts, unchanged, as Azure ML's
ScriptRunConfig ran them: a seed-style Keras script, a Horovod script, a TF_CONFIG custom loop,
a failing one, sweeps and an Optuna search over a script, resume, callbacks logging to the run."""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ..conftest import FASHION, ROOT, run_cli, run_trainkit
from .clusters import wait_for

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(not FASHION.exists(), reason="needs apt-get install dataset-fashion-mnist")]
HAVE_HOROVOD = Path(sys.executable).with_name("horovodrun").exists()
SCRIPTS = ROOT / "tests" / "scripts"
SEED = ["entry=script", f"entry.source_dir={SCRIPTS}", "entry.script=keras_mnist.py"]


def run_of(proc) -> dict:
    run_id = re.search(r"run (\S+) (completed|failed|pruned)", proc.stdout).group(1)
    return json.loads(run_cli(["runs", "show", run_id, "--json"]).stdout)


def test_a_seed_style_keras_script_runs_unchanged_logs_and_registers(workspace):
    proc = run_trainkit([*SEED, 'entry.arguments=["--data-folder=${dataset.path}","--epochs=2",'
                                '"--batch-size=${trainer.batch_size}","--first-layer-neurons=128",'
                                '"--second-layer-neurons=64","--learning-rate=0.001","--limit=6000"]',
                         "run.experiment=seed"])
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    d = run_of(proc)
    assert d["status"] == "completed" and 0.7 < d["metrics"]["test_accuracy"] <= 1
    assert [h["step"] for h in d["history"] if "val_accuracy" in h] == [1, 2]   # logged per epoch by its callback
    run = Path(d["path"])
    assert (run / "code" / "keras_mnist.py").read_text() == (SCRIPTS / "keras_mnist.py").read_text()  # its snapshot
    assert (run / "outputs" / "model.keras").is_file() and (run / "code" / "outputs").resolve() == run / "outputs"
    assert "--batch-size=64" in (run / "logs" / "stdout.log").read_text()   # ${trainer.batch_size}, as a string
    assert sorted(p.name for p in (run / "dataset").iterdir()) == sorted(p.name for p in FASHION.glob("*.gz"))
    entry = json.loads(run_cli(["models", "show", "seed", "--json"]).stdout)
    assert entry["onnx"]["status"] == "ok" and entry["metrics"]["test_accuracy"] == d["metrics"]["test_accuracy"]
    assert entry["signature"]["inputs"][0]["shape"] == [None, 784]


def test_a_failing_script_fails_the_run_with_its_exit_code_and_last_lines(workspace):
    proc = run_trainkit([*SEED, 'entry.arguments=["--data-folder=${dataset.path}","--epochs=3","--limit=3000",'
                                '"--fail-after-epoch=1"]', "run.experiment=failing"])
    assert proc.returncode == 1, proc.stdout[-2000:]
    st = run_of(proc)["status_detail"]
    assert st["state"] == "failed" and st["script_exit_code"] == 3
    assert "script keras_mnist.py exited with code 3" in st["exit_reason"]
    assert any("failing on purpose after epoch 1" in line for line in st["last_log_lines"])


@pytest.mark.skipif(not HAVE_HOROVOD, reason="needs bash scripts/build_horovod.sh")
def test_an_unchanged_horovod_script_gets_rank_size_and_rendezvous(workspace):
    proc = run_trainkit(["entry=script", f"entry.source_dir={SCRIPTS}", "entry.script=horovod_tf.py",
                         'entry.arguments=["--data-folder=${dataset.path}"]', "distribution=horovod",
                         "distribution.processes=2", "run.experiment=hvd_script"])
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    d = run_of(proc)
    logs = Path(d["path"]) / "logs"
    assert "horovod rank 0 of size 2" in (logs / "stdout.log").read_text()
    assert "horovod rank 1 of size 2" in (logs / "rank-1.log").read_text()
    assert d["metrics"]["final_loss"] < 1.0                      # gradients were averaged, it learned
    assert list((Path(d["path"]) / "outputs").glob("checkpoint-1.index"))   # rank 0's checkpoint


def test_a_tf_config_custom_loop_script_runs_on_two_workers(workspace):
    proc = run_trainkit(["entry=script", f"entry.source_dir={SCRIPTS}", "entry.script=mwm_custom_loop.py",
                         'entry.arguments=["--data-folder=${dataset.path}"]', "distribution=multi_worker_mirrored",
                         "distribution.workers=2", "run.experiment=mwm_script"])
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    d = run_of(proc)
    rank1 = (Path(d["path"]) / "logs" / "rank-1.log").read_text()
    assert "TF_CONFIG task {'index': 1, 'type': 'worker'} of cluster {'worker': ['127.0.0.1:" in rank1
    assert [h["step"] for h in d["history"]] == [1, 2] and d["history"][1]["loss"] < d["history"][0]["loss"]
    assert json.loads(run_cli(["models", "show", "mwm_script", "--json"]).stdout)["onnx"]["status"] == "ok"


def test_a_sweep_over_a_script_argument_summarises_the_scripts_metric(workspace):
    proc = run_trainkit(["-m", *SEED, 'entry.arguments=["--data-folder=${dataset.path}","--epochs=1",'
                                      '"--limit=3000","--learning-rate=${trainer.learning_rate}"]',
                         "trainer.learning_rate=0.01,0.0001", "registry.enabled=false", "run.experiment=script_sweep"])
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    [sweep] = json.loads(run_cli(["sweeps", "list", "--json"]).stdout)
    summary = json.loads((Path(sweep["path"]) / "summary.json").read_text())
    assert summary["counts"] == {"completed": 2} and {"test_accuracy", "val_accuracy"} <= set(summary["metrics"])
    best, worst = summary["rows"]                                # ranked by the objective, val_accuracy
    assert "trainer.learning_rate=0.01" in best["swept"] and "--learning-rate=0.01" in best["swept"]
    assert best["val_accuracy"] > worst["val_accuracy"] and best["test_accuracy"] > worst["test_accuracy"]


def test_an_optuna_search_prunes_a_script_that_reports(workspace):
    proc = run_trainkit(["-m", "+debug=smoke", "+hparams_search=smoke_optuna", *SEED,
                         'entry.arguments=["--data-folder=${dataset.path}","--epochs=3","--limit=2000",'
                         '"--learning-rate=${trainer.learning_rate}"]', "run.experiment=script_search"], timeout=1200)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    runs = json.loads(run_cli(["runs", "list", "--json"]).stdout)
    states = [r["status"] for r in runs]
    assert len(runs) == 6 and "pruned" in states and "completed" in states, states
    pruned = next(r for r in runs if r["status"] == "pruned")
    detail = json.loads(run_cli(["runs", "show", pruned["id"], "--json"]).stdout)
    assert "pruned by optuna" in detail["exit_reason"] and len(detail["history"]) < 3


def test_an_interrupted_script_run_resumes_in_the_same_directory_with_its_checkpoints(workspace):
    args = [sys.executable, "-m", "trainkit", "entry=script", f"entry.source_dir={SCRIPTS}", "entry.script=resumable.py",
            'entry.arguments=["--epochs=6"]', "entry.model_path=null", "run.experiment=resumable"]
    first = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    metrics = lambda: list((workspace / "experiments" / "resumable" / "runs").glob("*/metrics.jsonl"))  # noqa: E731
    deadline = time.time() + 120
    while time.time() < deadline and not (metrics() and len(metrics()[0].read_text().splitlines()) >= 2):
        time.sleep(0.1)
    first.send_signal(signal.SIGKILL)          # the launcher dies; the worker and the script die with it
    first.wait(timeout=30)
    [run_dir] = (workspace / "experiments" / "resumable" / "runs").iterdir()
    done = json.loads((run_dir / "checkpoints" / "state.json").read_text())["epoch"]
    assert 2 <= done < 6
    again = run_trainkit(args[3:])
    assert again.returncode == 0, again.stdout[-2000:]
    assert f"resuming run {run_dir.name}" in again.stdout and f"starting at epoch {done + 1}" in again.stdout
    assert [p.name for p in (workspace / "experiments" / "resumable" / "runs").iterdir()] == [run_dir.name]
    assert json.loads(run_cli(["runs", "show", run_dir.name, "--json"]).stdout)["metrics"]["score"] == 60


def test_a_script_that_saves_and_exits_0_on_sigterm_is_stopped_not_completed_and_resumes(workspace):
    """The worker alone gets SIGTERM (as srun or a node agent sends it) and passes it on; the script
    honours should_stop(), saves its state and exits 0. The run must not be recorded as completed
    (a Slurm driver would then neither requeue it nor fail it for a dead peer), and the same command
    resumes it."""
    args = ["entry=script", f"entry.source_dir={SCRIPTS}", "entry.script=resumable.py",
            'entry.arguments=["--epochs=12","--seconds=0.5"]', "entry.model_path=null",
            "run.experiment=stopped"]
    first = subprocess.Popen([sys.executable, "-m", "trainkit", *args], cwd=ROOT, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True)
    runs = workspace / "experiments" / "stopped" / "runs"

    def state() -> list[int]:
        try:
            return [json.loads(p.read_text())["epoch"] for p in runs.glob("*/checkpoints/state.json")]
        except ValueError:           # caught mid-write
            return []

    wait_for(lambda: (saved := state()) and saved[0] >= 2, 120, "epoch 2's saved state", poll=0.1)
    [run_dir] = runs.iterdir()
    os.kill(json.loads((run_dir / "status.json").read_text())["worker_pid"], signal.SIGTERM)
    out = first.communicate(timeout=60)[0]
    assert first.returncode != 0, out[-2000:]
    status = json.loads((run_dir / "status.json").read_text())
    assert status["state"] in ("failed", "cancelled"), status
    assert "asked to stop: state saved" in (run_dir / "logs" / "console.log").read_text()
    done = state()[0]
    assert done < 12
    again = run_trainkit(args)
    assert again.returncode == 0, again.stdout[-2000:]
    assert f"resuming run {run_dir.name}" in again.stdout and f"starting at epoch {done + 1}" in again.stdout


CALLBACK = '''import keras
from trainkit.run import get_context


class Spread(keras.callbacks.Callback):
    """Logs a metric of its own from inside trainkit's loop."""

    def on_epoch_end(self, epoch, logs=None):
        get_context().log("loss_gap", logs["val_loss"] - logs["loss"])
'''


def test_a_callback_in_trainkits_loop_logs_its_own_metric(workspace, tmp_path):
    """No project here (no conf/): the directory is snapshotted because the config names its code
    (mycallbacks:Spread); a notebook folder whose code it does not name is not (unit test_runs)."""
    (tmp_path / "mycallbacks.py").write_text(CALLBACK)
    (tmp_path / ".gitignore").write_text("scratch/\n")
    (tmp_path / "scratch").mkdir()
    (tmp_path / "scratch" / "big.npy").write_bytes(b"0" * 1000)
    proc = run_trainkit(["+debug=smoke", "trainer.epochs=2", "registry.enabled=false", "run.experiment=cb",
                         "trainer.callbacks=[{cls: 'mycallbacks:Spread'}]"], cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    d = run_of(proc)
    assert all("loss_gap" in h for h in d["history"]) and "loss_gap" in d["metrics"]
    source = json.loads((Path(d["path"]) / "source" / "source.json").read_text())
    assert source["kind"] == "copy" and source["files"] == 2, source         # .gitignore, mycallbacks.py
    assert d["history"][-1]["loss_gap"] == pytest.approx(d["history"][-1]["val_loss"] - d["history"][-1]["loss"])
