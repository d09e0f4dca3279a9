"""The Python API for real: the quickstart notebook executed on a real ipykernel (no mocks), a
detached submit that returns at once and waits afterwards, and an Azure ML v1 style script that
runs unchanged under entry.azureml_compat on one process and under Horovod."""
from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest

from ..conftest import FASHION, ROOT, run_cli, run_trainkit

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(not FASHION.exists(), reason="needs apt-get install dataset-fashion-mnist")]
HAVE_HOROVOD = Path(sys.executable).with_name("horovodrun").exists()


def test_the_quickstart_notebook_runs_top_to_bottom_on_a_real_kernel(workspace, tmp_path):
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(ROOT / "examples" / "quickstart.ipynb", as_version=4)
    NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = {c.source: "".join(o.get("text", "") + "".join(o.get("data", {}).get("text/plain", "")) +
                                 o.get("data", {}).get("text/html", "") for o in c.get("outputs", []))
               for c in nb.cells if c.cell_type == "code"}
    text = "\n".join(outputs.values())
    assert "Traceback" not in text and "Error" not in text, text[-3000:]
    run_id = next(line.split()[0] for line in text.splitlines() if line.endswith(" queued") or line.endswith(" running"))
    shown = json.loads(run_cli(["runs", "show", run_id, "--json"]).stdout)
    assert shown["status"] == "completed"
    acc = shown["metrics"]["test_accuracy"]
    assert f"test accuracy {acc:.4f}" in text and acc > 0.8
    assert f"ONNX accuracy on 10000 test images: {acc:.4f}" in text            # predict == the run's own metric
    assert "<svg" in text and f'data-run-id="{run_id}"' in text                # the run's HTML with its curves
    streamed = next(out for src, out in outputs.items() if "run.wait(show_output=True)" in src)
    for n in (1, 2, 3):                                                        # the log, streamed as it grew
        assert re.search(rf"^epoch {n}/3 loss=\d\.\d{{4}} .*accuracy=", streamed, re.M), streamed[-3000:]
    assert "argmax_agreement=" in streamed and streamed.rstrip().endswith("completed")   # to its last line
    details = next(out for src, out in outputs.items() if "RunDetails(run)" in src)   # its last update
    assert f'data-run-id="{run_id}"' in details and ">completed<" in details and "<svg" in details
    assert f"{acc:.4f}" in details                                             # the final metrics, in the table
    assert "ModelVersion('fashion-notebook', 1) ok fashion_mnist" in text
    model = json.loads(run_cli(["models", "show", "fashion-notebook@staging", "--json"]).stdout)
    assert model["run_id"] == run_id and model["config_hash"] == shown["status_detail"]["config_hash"]
    assert model["tags"]["team"] == "docs" and model["dataset"]["name"] == "fashion_mnist"
    assert (tmp_path / "model" / "model.keras").is_file()


def test_submit_returns_at_once_then_wait_metrics_match_runs_show_and_predict_matches_onnxruntime(
        workspace, tmp_path, capsys, caplog):
    import logging

    import numpy as np
    import onnxruntime as ort

    import trainkit as tk

    with caplog.at_level(logging.INFO, logger="trainkit"):
        run = tk.submit("+debug=smoke", {"trainer.epochs": 2, "run.experiment": "api"}, project=tmp_path)
    assert run.status in ("queued", "running")                     # returned before the run ended
    assert capsys.readouterr().out == ""                             # a cell shows nothing but the run
    assert f"trainkit jobs logs {run.id} -f" in caplog.text          # the hints went to the log
    assert run.wait() is run and run.status == "completed"
    shown = json.loads(run_cli(["runs", "show", run.id, "--json"]).stdout)
    assert run.metrics() == shown["metrics"] and run.history() == shown["history"]
    mv = tk.Workspace().model("api")
    x = np.random.default_rng(0).uniform(0, 255, (64, 28, 28)).astype(np.float32)
    session = ort.InferenceSession(str(Path(mv.metadata["path"]) / "artifacts" / "model.onnx"))
    np.testing.assert_allclose(mv.predict(x), session.run(None, {session.get_inputs()[0].name: x})[0], rtol=0, atol=1e-6)
    with pytest.raises(tk.ConfigError, match="trainer.epochs"):
        tk.submit("+debug=smoke", "trainer.epochs=0", project=tmp_path)
    assert [r.id for r in tk.Workspace().runs()] == [run.id]   # the bad one wrote nothing


AZURE = ROOT / "examples" / "azure_script"       # the example project the docs show
AZURE_ARGS = ["+experiment=azure_mnist",
              'entry.arguments=["--data-folder","${dataset.path}","--batch-size","64","--limit","4000",'
              '"--epochs","${trainer.epochs}"]']


@pytest.mark.parametrize("dist", [["distribution=single"], ["distribution=horovod", "distribution.processes=2"]],
                         ids=["single", "horovod"])
def test_an_azure_ml_v1_script_runs_unchanged_and_its_model_is_registered_with_onnx_parity(dist, workspace, tmp_path):
    """examples/azure_script, copied as a user would."""
    import shutil

    if "horovod" in dist[0] and not HAVE_HOROVOD:
        pytest.skip("needs bash scripts/build_horovod.sh")
    name = "azure-" + dist[0].split("=")[1]
    project = shutil.copytree(AZURE, tmp_path / "azure_script")
    proc = run_trainkit([*AZURE_ARGS, *dist, f"run.experiment={name}"], cwd=project)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    run_id = next(line.split()[1] for line in proc.stdout.splitlines() if line.startswith("run ") and " -> " in line)
    shown = json.loads(run_cli(["runs", "show", run_id, "--json"]).stdout)
    assert shown["status"] == "completed" and shown["metrics"]["final_accuracy"] > 0.6
    assert [h["step"] for h in shown["history"]] == [0, 1]                     # run.log per epoch
    assert shown["tags"]["framework"] == "tf2"                                 # run.tag
    run_dir = Path(shown["path"])
    assert "azureml.core.Run" in (run_dir / "logs" / "stdout.log").read_text()  # the shim answered the import
    size = 2 if "horovod" in dist[0] else 1                                    # every rank ran, and knew its place
    for rank in range(size):
        log = run_dir / "logs" / ("stdout.log" if rank == 0 else f"rank-{rank}.log")
        assert f"rank {rank} of {size}: " in log.read_text(), (log.name, log.read_text()[-2000:])
    assert (run_dir / "outputs" / "model" / "saved_model.pb").exists()
    model = json.loads(run_cli(["models", "show", name, "--json"]).stdout)
    assert model["run_id"] == run_id and model["onnx"]["status"] == "ok" and model["onnx"]["max_abs_diff"] < 1e-4


def tiny_project(root: Path, seed: int) -> Path:
    """A project whose dataset `tiny` is two .npz files (random 28x28 images) in root/data."""
    import numpy as np

    rng = np.random.default_rng(seed)
    (root / "data").mkdir(parents=True, exist_ok=True)
    for split, n in (("train", 600), ("test", 200)):
        np.savez(root / "data" / f"{split}.npz", x=rng.integers(0, 255, (n, 28, 28), dtype=np.uint8),
                 y=rng.integers(0, 10, n))
    (root / "conf" / "dataset").mkdir(parents=True, exist_ok=True)
    (root / "conf" / "dataset" / "tiny.yaml").write_text(
        "defaults: [base_dataset, _self_]\nname: tiny\nformat: npz\n"
        f"sources: ['file://{root / 'data'}/']\nfiles:\n  - {{role: train, name: train.npz, sha256: null}}\n"
        "  - {role: test, name: test.npz, sha256: null}\nnum_classes: 10\nvalidation_size: 100\n")
    return root


def test_datasets_register_download_and_a_run_pinned_to_a_version(workspace, tmp_path):
    import hashlib

    import trainkit as tk

    project = tiny_project(tmp_path / "proj", seed=1)
    first = (project / "data" / "train.npz").read_bytes()
    res = run_cli(["datasets", "register", "tiny"], env={"TRAINKIT_PROJECT": str(project)})
    assert res.returncode == 0 and "registered dataset tiny v1" in res.stdout, res.stdout + res.stderr
    ws = tk.Workspace()
    assert ws.datasets.register("tiny", project=project).version == 1           # same content, same version
    tiny_project(project, seed=2)                                               # the files change
    v2 = ws.datasets.register("tiny", project=project)
    assert v2.version == 2 and v2.digest != ws.dataset("tiny:1").digest
    assert sorted(v2.files()) == sorted(v2.files) == ["test.npz", "train.npz"]  # called, as on runs, or read
    res = run_cli(["datasets", "download", "tiny:1", "--to", str(tmp_path / "dl")])
    assert res.returncode == 0, res.stderr
    assert hashlib.sha256((tmp_path / "dl" / "train.npz").read_bytes()).digest() == hashlib.sha256(first).digest()
    args = ["dataset=tiny", "trainer.epochs=1", "registry.enabled=false", "run.experiment=pinned"]
    proc = run_trainkit([*args, "dataset.version=1"], cwd=project)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    [run] = ws.runs(experiment="pinned")
    assert run.record["dataset"] == {"name": "tiny", "version": 1, "digest": ws.dataset("tiny:1").digest}
    missing = run_trainkit([*args, "dataset.version=7"], cwd=project)
    assert missing.returncode == 4 and "versions of tiny: 1, 2" in missing.stderr, missing.stderr
    assert len(ws.runs(experiment="pinned")) == 1                                # nothing written for the bad one


def test_a_sweep_from_python_its_best_run_registered_from_the_cli(workspace, tmp_path):
    import trainkit as tk

    sweep = tk.sweep("+debug=smoke", "trainer.learning_rate=0.003,0.00001", "registry.enabled=false",
                     "run.experiment=api_sweep", project=tmp_path)
    runs = sweep.runs()
    assert len(runs) == 2 and all(r.status == "completed" for r in runs)
    best = sweep.best_run("val_accuracy")
    assert best.metrics()["val_accuracy"] == max(r.metrics()["val_accuracy"] for r in runs)
    assert best.get("config.trainer.learning_rate") == 0.003
    res = run_cli(["sweeps", "best", sweep.id, "--metric", "val_accuracy", "--register", "swept", "--json"])
    assert res.returncode == 0, res.stdout + res.stderr
    assert json.loads(res.stdout)["best"]["run_id"] == best.id
    model = json.loads(run_cli(["models", "show", "swept", "--json"]).stdout)
    assert model["run_id"] == best.id and model["onnx"]["status"] == "ok" and model["dataset"]["name"] == "fashion_mnist"
    again = run_cli(["models", "register", "swept", "--run", runs[0].id, "--path", "outputs/model/model.keras"])
    assert again.returncode == 0 and "registered swept:2" in again.stdout, again.stdout + again.stderr
    outside = run_cli(["models", "register", "swept", "--run", runs[0].id, "--path", "../../status.json"])
    assert outside.returncode == 2 and "expected a path inside run" in outside.stderr


def test_run_details_of_a_sweep_in_a_real_kernel_shows_one_output_and_returns_nothing(tmp_path):
    """nbclient + ipykernel: `tk.RunDetails(sweep).show()` in a cell displays the trial table and
    one curve per trial, once, and the cell has no result of its own (show() returns None)."""
    from nbclient import NotebookClient
    from nbformat.v4 import new_code_cell, new_notebook

    from ..unit.test_rundetails import make_sweep

    sweep_id = make_sweep(tmp_path)
    nb = new_notebook(cells=[new_code_cell(
        f"import trainkit as tk\nsweep = tk.Workspace({str(tmp_path)!r}).get_sweep({sweep_id!r})\n"
        "tk.RunDetails(sweep).show()")])
    NotebookClient(nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = nb.cells[0].outputs
    assert [o.output_type for o in outputs] == ["display_data"], outputs         # no execute_result, no stray text
    shown = outputs[0].data["text/html"]
    assert 'class="trainkit-sweep"' in shown and "2 completed" in shown and "best first by val_accuracy" in shown
    assert "trainer.learning_rate=0.01" in shown and shown.count("<polyline") == 2
