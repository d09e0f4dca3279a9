"""trainkit.run without TensorFlow: where values go (run record, TensorBoard, offline directory),
which ranks record, the loop's pending values, and SIGTERM as should_stop()."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

import trainkit
import trainkit.run as tkrun

from ..conftest import ROOT


@pytest.fixture(autouse=True)
def fresh(monkeypatch):
    monkeypatch.setattr(tkrun, "_current", None)
    for var in ("TRAINKIT_RANK", "TRAINKIT_WORLD_SIZE", "HOROVOD_RANK", tkrun.RUN_DIR_ENV, tkrun.TRIAL_ENV):
        monkeypatch.delenv(var, raising=False)


def lines(path):
    return [json.loads(x) for x in path.read_text().splitlines()]


def test_a_script_logs_into_its_run_record_and_tensorboard(tmp_path, monkeypatch):
    monkeypatch.setenv(tkrun.RUN_DIR_ENV, str(tmp_path / "run"))
    monkeypatch.setenv(tkrun.RUN_ID_ENV, "20261123-000000-abcdef")
    run = trainkit.run.get_context()
    assert run is tkrun.get_context() and run.id == "20261123-000000-abcdef" and run.is_chief
    run.log("loss", 0.5)
    run.log("loss", 0.25)
    run.log_dict({"val_accuracy": 0.9, "lr": 1e-3}, step=7)
    assert [(r["step"], r.get("loss"), r.get("val_accuracy")) for r in lines(tmp_path / "run" / "metrics.jsonl")] == \
        [(0, 0.5, None), (1, 0.25, None), (7, None, 0.9)]
    assert run.output_dir == tmp_path / "run" / "outputs" and run.checkpoint_dir.is_dir()
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    ea = EventAccumulator(str(tmp_path / "run" / "logs" / "tensorboard" / "run"))
    ea.Reload()
    assert [(s.step, s.value) for s in ea.Scalars("loss")] == [(0, 0.5), (1, 0.25)]
    with pytest.raises(TypeError, match=r"run.log\('x', ...\): expected a number, got 'high'"):
        run.log("x", "high")


def test_only_the_chief_records_unless_all_ranks(tmp_path, monkeypatch):
    monkeypatch.setenv(tkrun.RUN_DIR_ENV, str(tmp_path))
    monkeypatch.setenv("TRAINKIT_RANK", "1")
    monkeypatch.setenv("TRAINKIT_WORLD_SIZE", "2")
    run = tkrun.get_context()
    assert (run.rank, run.world_size, run.is_chief) == (1, 2, False)
    run.log("loss", 1.0)
    assert not (tmp_path / "metrics.jsonl").exists()
    run.log("loss", 2.0, all_ranks=True)
    assert lines(tmp_path / "metrics.jsonl")[0]["rank"] == 1


def test_plain_python_writes_a_local_run_directory(tmp_path):
    script = "import trainkit.run as r; run = r.get_context(); run.log('acc', 0.5); print(run.dir, run.output_dir)"
    proc = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 0, proc.stderr
    run_dir, outputs = proc.stdout.split()
    assert run_dir.startswith(str(tmp_path / ".trainkit" / "runs")) and outputs == str(tmp_path / "outputs")
    assert lines(tmp_path / ".trainkit" / "runs" / os.path.basename(run_dir) / "metrics.jsonl")[0]["acc"] == 0.5
    assert "not inside a trainkit run" in proc.stderr
    modules = subprocess.run([sys.executable, "-c", "import sys, trainkit.run as r; r.get_context().log('a', 1); "
                              "print(' '.join(sorted(sys.modules)))"], cwd=tmp_path, capture_output=True, text=True,
                             env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert modules.returncode == 0, modules.stderr            # a crash would print no modules and pass below
    assert "trainkit.run" in modules.stdout.split() and "tensorflow" not in modules.stdout.split()
    assert not any(m.startswith(("tensorflow.", "keras")) for m in modules.stdout.split())


def test_in_trainkits_loop_values_join_the_epoch(tmp_path):
    run = tkrun.attach_loop(tmp_path, "rid")
    assert tkrun.get_context() is run
    run.log("custom_score", 3)
    assert run._pending == {"custom_score": 3.0} and not (tmp_path / "metrics.jsonl").exists()


STOPPER = """
import os, signal, sys, time
import trainkit.run as r
run = r.get_context()
print("ready", flush=True)
while not run.should_stop():
    time.sleep(0.01)
print("asked to stop", flush=True)
if sys.argv[1] == "finish":
    print("checkpoint saved", flush=True)
    sys.exit(0)
time.sleep(30)                  # a slow checkpoint: the second SIGTERM must end it now
print("never printed", flush=True)
"""


@pytest.mark.parametrize("mode", ["finish", "stuck"])
def test_sigterm_asks_the_script_to_stop_and_a_second_one_stops_it(tmp_path, mode):
    """A real process: the first SIGTERM only sets should_stop() (the script saves and exits 0); a
    second one, while the script is still busy, ends it by SIGTERM at once."""
    proc = subprocess.Popen([sys.executable, "-c", STOPPER, mode], cwd=tmp_path, stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT), tkrun.RUN_DIR_ENV: str(tmp_path / "run")})
    assert proc.stdout.readline().strip() == "ready"
    proc.send_signal(signal.SIGTERM)
    assert proc.stdout.readline().strip() == "asked to stop"
    if mode == "finish":
        assert proc.wait(10) == 0 and proc.stdout.read().strip() == "checkpoint saved"
        return
    time.sleep(0.2)
    started = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(10) == -signal.SIGTERM and time.monotonic() - started < 5
    assert "never printed" not in proc.stdout.read()


def test_log_image_keeps_the_png_and_shows_it_in_tensorboard(tmp_path, monkeypatch):
    from PIL import Image

    png = tmp_path / "cm.png"
    Image.new("RGB", (6, 4), "red").save(png)
    monkeypatch.setenv(tkrun.RUN_DIR_ENV, str(tmp_path / "run"))
    kept = tkrun.get_context().log_image("confusion", png)
    assert kept == tmp_path / "run" / "logs" / "images" / "confusion" / "0.png" and kept.read_bytes() == png.read_bytes()
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    ea = EventAccumulator(str(tmp_path / "run" / "logs" / "tensorboard" / "run"))
    ea.Reload()
    [img] = ea.Images("confusion")
    assert (img.width, img.height) == (6, 4)
