"""Every project in examples/ as a user runs it: copied to an empty directory, its README's
commands (shortened with +debug=smoke or the example's own --smoke), results asserted. The Azure
ML script example runs in test_api.py (single and Horovod)."""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ..conftest import FASHION, ROOT, run_cli, run_trainkit

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(not FASHION.exists(), reason="needs apt-get install dataset-fashion-mnist")]
EXAMPLES = ROOT / "examples"


def copy(name: str, tmp_path: Path) -> Path:
    return Path(shutil.copytree(EXAMPLES / name, tmp_path / name))


def completed(proc) -> dict:
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    run_id = re.search(r"run (\S+) completed", proc.stdout).group(1)
    return json.loads(run_cli(["runs", "show", run_id, "--json"]).stdout)


def python(script: Path, *args: str, env: dict | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
    import os

    return subprocess.run([sys.executable, script.name, *args], cwd=script.parent, capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, **(env or {})})


def test_every_example_is_listed_and_has_a_readme():
    dirs = sorted(p.name for p in EXAMPLES.iterdir() if p.is_dir())
    index = (EXAMPLES / "README.md").read_text()
    assert dirs == ["azure_script", "csv_data", "own_model", "own_script", "serving_client", "sweep"]
    for d in dirs:
        assert f"]({d}/)" in index and (EXAMPLES / d / "README.md").read_text().startswith("# "), d


def test_own_model(workspace, tmp_path):
    project = copy("own_model", tmp_path)
    run = completed(run_trainkit(["+experiment=residual", "+debug=smoke", "model.blocks=3"], cwd=project))
    assert run["metrics"]["test_accuracy"] > 0.5
    config = (Path(run["path"]) / "config.yaml").read_text()
    assert "_target_: zoo.residual.build" in config and "blocks: 3" in config
    model = json.loads(run_cli(["models", "show", "residual", "--json"]).stdout)
    assert model["run_id"] == run["id"] and model["onnx"]["status"] == "ok"


def test_csv_data(workspace, tmp_path):
    project = copy("csv_data", tmp_path)
    env = {"TRAINKIT_DATA": str(tmp_path / "data")}
    prepared = python(project / "prepare.py", env=env)
    assert prepared.returncode == 0 and "wrote 569 rows" in prepared.stdout, prepared.stderr
    run = completed(run_trainkit(["+experiment=cancer"], cwd=project, env=env))
    assert run["metrics"]["test_auc"] > 0.95 and run["metrics"]["test_accuracy"] > 0.9, run["metrics"]
    model = json.loads(run_cli(["models", "show", "cancer", "--json"]).stdout)
    assert model["task"] == "binary" and model["onnx"]["status"] == "ok"
    assert model["signature"]["inputs"][0]["shape"] == [None, 30]
    shown = run_cli(["datasets", "show", "cancer"], env=env)
    assert shown.returncode == 0 and "format csv" in shown.stdout, shown.stdout + shown.stderr


def test_own_script(workspace, tmp_path):
    project = copy("own_script", tmp_path)
    alone = python(project / "train.py", f"--data-folder={FASHION}", "--epochs=1", "--limit=2000")
    assert alone.returncode == 0 and "test accuracy" in alone.stdout, alone.stderr[-2000:]
    shutil.rmtree(project / "outputs")                      # what running it alone left behind
    run = completed(run_trainkit(["+experiment=own_script", "trainer.epochs=2",
                                  'entry.arguments=["--data-folder=${dataset.path}","--epochs=${trainer.epochs}","--limit=6000"]'],
                                 cwd=project))
    assert [h["step"] for h in run["history"] if "val_accuracy" in h] == [1, 2]       # logged per epoch
    assert run["metrics"]["test_accuracy"] > 0.7
    assert (Path(run["path"]) / "outputs" / "model.keras").is_file()
    assert json.loads(run_cli(["models", "show", "own_script", "--json"]).stdout)["onnx"]["status"] == "ok"


def test_sweep(workspace, tmp_path):
    project = copy("sweep", tmp_path)
    proc = python(project / "sweep.py", "--smoke", "--register", "swept")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    rows = re.findall(r"^  (\S+)  completed\s+lr=(\S+) .* val_accuracy=(\S+)$", proc.stdout, re.M)
    assert sorted(float(lr) for _, lr, _ in rows) == [0.0003, 0.003], proc.stdout
    best_id = max(rows, key=lambda r: float(r[2]))[0]
    assert re.search(rf"best: run {best_id} .* registered as swept:1, ONNX ok", proc.stdout), proc.stdout
    model = json.loads(run_cli(["models", "show", "swept", "--json"]).stdout)
    assert model["run_id"] == best_id and model["tags"]["sweep"]


def test_serving_client(workspace, tmp_path):
    from .test_serve import Server

    completed(run_trainkit(["+debug=smoke", "dataset.limit_train=6000", "run.experiment=to_serve"]))
    client = copy("serving_client", tmp_path) / "client.py"
    server = Server(["to_serve"], {}, tmp_path / "server.log")
    try:
        proc = python(client, "--url", f"127.0.0.1:{server.port}", "--model", "to_serve", "--images", "500")
    finally:
        assert server.stop() == 0
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "to_serve version 1: image [-1, 28, 28] -> probabilities [-1, 10]" in proc.stdout
    m = re.search(r"500 images in 5 requests: accuracy (\S+),", proc.stdout)
    assert m and float(m.group(1)) > 0.6, proc.stdout
