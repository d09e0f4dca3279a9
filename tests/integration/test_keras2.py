"""environment.keras "2" with real processes: a Keras 2-era script (tests/scripts/keras2_mnist.py)
runs unchanged in the built Keras 2 environment (tf-keras from the local wheel cache), and what it
saved (a SavedModel of a subclassed model, a whole-model .h5, a JSON + weights pair) is registered
with an ONNX export that passes the parity check on the run's test split."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from ..conftest import FASHION, ROOT, run_cli, run_trainkit
from .test_script import run_of

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(not FASHION.exists(), reason="needs apt-get install dataset-fashion-mnist")]
KERAS2 = ["environment=tensorflow-2.21-keras2-cpu", "entry=script", f"entry.source_dir={ROOT / 'tests' / 'scripts'}",
          "entry.script=keras2_mnist.py", "entry.azureml_compat=true", "export.onnx.parity_samples=1000"]
CASES = {   # --save: (entry.model_path, the registry's record of what was saved)
    "saved_model": ("outputs/model", {"format": "saved_model", "files": ["outputs/model"]}),
    "h5": ("outputs/model/model.h5", {"format": "h5", "files": ["outputs/model/model.h5"],
                                      "converted_to": "outputs/model/model_saved_model"}),
    "json": ("outputs/model", {"format": "json+weights", "files": ["outputs/model/model.json", "outputs/model/model.h5"],
                               "converted_to": "outputs/model/model_saved_model"}),
}
UNREACHABLE_INDEX = "environment.index_url=http://127.0.0.1:9/simple"   # nothing listens: the build must not ask it


@pytest.mark.parametrize("save", list(CASES))
def test_a_keras2_script_runs_unchanged_and_what_it_saved_registers_with_onnx_parity(save, workspace):
    model_path, saved = CASES[save]
    arguments = ('entry.arguments=["--data-folder=${dataset.path}","--limit=2000","--learning-rate=0.002",'
                 f'"--save={save}"]')
    proc = run_trainkit([*KERAS2, arguments, f"entry.model_path={model_path}", f"run.experiment=keras2_{save}",
                         UNREACHABLE_INDEX], timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    run = run_of(proc)
    logs = Path(run["path"]) / "logs"
    log, err = (logs / "stdout.log").read_text(), (logs / "stderr.log").read_text()
    assert "Keras 2.21.0, tf.keras from tf_keras" in log                      # `import keras` and tf.keras: Keras 2
    assert "optimizer learning rate: 0.002\n" in log                         # RMSprop(lr=0.002) was taken
    assert "trainkit (environment.keras=2): RMSprop: lr=0.002 as learning_rate=0.002, as Keras 2 did" in err
    assert 0.5 < run["metrics"]["test_accuracy"] <= 1                        # it learned from the real images
    built = json.loads((Path(run["path"]) / "environment.json").read_text())
    assert built["built_environment"]["spec"]["no_deps"] == ["tf-keras~=2.21.0"] and built["tf_keras"] == "2.21.0"
    assert "tf-keras==2.21.0" in built["built_environment"]["lock"]
    entry = json.loads(run_cli(["models", "show", f"keras2_{save}", "--json"]).stdout)
    onnx = entry["onnx"]
    assert onnx["status"] == "ok" and onnx["samples"] == 1000, onnx
    assert onnx["max_abs_diff"] < 1e-4 and onnx["argmax_agreement"] == 1.0
    assert entry["saved"] == {"path": model_path, "keras": "2", **saved,
                              **({"keras_version": "2.21.0", "model_class": "Sequential", "inputs": [[None, 784]]}
                                 if "converted_to" in saved else {})}
    assert entry["signature"]["inputs"][0]["shape"] == [None, 784]
    if save == "json":   # registered again after the run, by the CLI (the base interpreter, Keras 3): the same
        again = run_cli(["models", "register", "again", "--run", run["id"], "--path", model_path], timeout=300)
        assert again.returncode == 0, again.stdout[-2000:] + again.stderr[-2000:]
        second = json.loads(run_cli(["models", "show", "again", "--json"]).stdout)
        assert second["saved"] == entry["saved"] and second["onnx"]["status"] == "ok", second["onnx"]
        assert second["run_id"] == run["id"] and "model.keras" in second["manifest"]
