"""Azure ML SDK v1 deployment on trainkit, for real: Keras models registered from files (a SavedModel
folder a training script registered with run.register_model(model_path='outputs/model'), and a
Keras 2 model's JSON + .h5 pair registered with Model.register), deployed with Model.deploy and a
score.py that loads them from os.path.join(AZUREML_MODEL_DIR, 'model'); the services' answers are
compared with the models' own predictions, with and without the key. The Keras 2 model's service
runs in the tensorflow-2.21-keras2-cpu environment (built with uv)."""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import requests

from trainkit.shimpath import PATH as SHIM

from ..conftest import FASHION, ROOT, run_trainkit

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(not FASHION.exists(), reason="needs apt-get install dataset-fashion-mnist")]
KERAS2_ENV = "tensorflow-2.21-keras2-cpu"

SAVEDMODEL_SCORE = '''import json, os
import numpy as np
import tensorflow as tf

def init():
    global serve
    folder = os.path.join(os.getenv("AZUREML_MODEL_DIR"), "model")
    serve = tf.saved_model.load(folder).signatures["serving_default"]
    print("loaded the SavedModel from", folder)

def run(raw_data):
    x = np.array(json.loads(raw_data)["data"], dtype="float32")
    return next(iter(serve(tf.constant(x)).values())).numpy().tolist()
'''

KERAS2_SCORE = '''import json, os
import numpy as np
from azureml.core.model import Model
from tensorflow import keras

def init():
    global model
    folder = os.path.join(os.getenv("AZUREML_MODEL_DIR"), "model")
    assert Model.get_model_path("fashion-keras2") == folder
    with open(os.path.join(folder, "model.json")) as f:
        model = keras.models.model_from_json(f.read())
    model.load_weights(os.path.join(folder, "model.h5"))
    print("keras", keras.__name__, "loaded", sorted(os.listdir(folder)))

def run(raw_data):
    x = np.array(json.loads(raw_data)["data"], dtype="float32")
    return {"probabilities": model.predict(x, verbose=0).tolist()}
'''

KERAS2_TRAIN = '''import gzip, sys
import numpy as np
from tensorflow import keras

folder, out = sys.argv[1], sys.argv[2]
with gzip.open(folder + "/train-images-idx3-ubyte.gz") as f:
    x = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 784)[:2000].astype("float32") / 255
with gzip.open(folder + "/train-labels-idx1-ubyte.gz") as f:
    y = np.frombuffer(f.read(), np.uint8, offset=8)[:2000]
keras.utils.set_random_seed(1)
model = keras.Sequential([keras.layers.Dense(24, activation="relu", input_shape=(784,)),
                          keras.layers.Dense(10, activation="softmax")])
model.compile(optimizer=keras.optimizers.legacy.Adam(lr=0.003), loss="sparse_categorical_crossentropy")
model.fit(x, y, epochs=2, batch_size=100, verbose=0)
open(out + "/model.json", "w").write(model.to_json())
model.save_weights(out + "/model.h5")
np.save(out + "/../expected.npy", model.predict(np.load(out + "/../x.npy"), verbose=0))
'''


@pytest.fixture
def v1(workspace, tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(SHIM))
    monkeypatch.chdir(tmp_path)
    from azureml.core import Workspace

    ws = Workspace()
    yield ws
    from azureml.core.webservice import Webservice

    for service in Webservice.list(ws):
        service.delete()


def fashion_images(n: int = 32) -> np.ndarray:
    from trainkit.data.idx import read_idx

    return (read_idx(FASHION / "t10k-images-idx3-ubyte.gz", "images")[:n].reshape(n, 784) / 255.0).astype(np.float32)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_savedmodel_a_run_registered_is_served_as_it_was_saved(v1, workspace, tmp_path):
    import tensorflow as tf

    from azureml.core.model import InferenceConfig, Model
    from azureml.core.webservice import AciWebservice, Webservice

    proc = run_trainkit(["entry=script", f"entry.source_dir={ROOT / 'tests' / 'scripts'}",
                         "entry.script=azureml_savedmodel.py", "entry.azureml_compat=true", "run.experiment=deploy",
                         'entry.arguments=["--data-folder=${dataset.path}","--limit=3000"]'])
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    model = Model(v1, "fashion-savedmodel")
    entry = model._entry
    saved = Path(entry["source"]["run_dir"]) / "outputs" / "model"
    # trainkit wrote its own copies beside the script's SavedModel; the version keeps only the script's files
    assert (saved / "model.keras").is_file() and (saved / "saved_model").is_dir() and (saved / "model.onnx").is_file()
    scripts = {p.relative_to(saved).as_posix() for p in saved.rglob("*") if p.is_file()
               and p.relative_to(saved).parts[0] not in ("model.keras", "saved_model", "model.onnx")}
    files = {k[len("files/model/"):]: v["sha256"] for k, v in entry["manifest"].items() if k.startswith("files/")}
    assert "saved_model.pb" in files and set(files) == scripts
    assert all(sha256(saved / rel) == digest for rel, digest in files.items())
    assert entry["onnx"]["status"] == "ok" and "model.onnx" in entry["manifest"]   # exported beside, not instead
    assert model.tags["data"] == "fashion-mnist" and model.run_id

    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "score.py").write_text(SAVEDMODEL_SCORE)
    service = Model.deploy(v1, "fashion-sm", [model], InferenceConfig(entry_script="score.py", source_directory="src"),
                           AciWebservice.deploy_configuration(cpu_cores=1, memory_gb=1, auth_enabled=True))
    service.wait_for_deployment(show_output=True)
    assert service.state == "Healthy"
    x = fashion_images()
    fn = tf.saved_model.load(str(saved)).signatures["serving_default"]
    want = next(iter(fn(tf.constant(x)).values())).numpy()
    got = np.array(service.run(json.dumps({"data": x.tolist()})))
    np.testing.assert_allclose(got, want, atol=1e-5)
    assert (got.argmax(1) == want.argmax(1)).all()

    uri = v1.webservices["fashion-sm"].scoring_uri
    body = json.dumps({"data": x[:4].tolist()})
    assert requests.post(uri, data=body, headers={"Content-Type": "application/json"}, timeout=60).status_code == 401
    key, _ = service.get_keys()
    answer = requests.post(uri, data=body, headers={"Content-Type": "application/json",
                                                    "Authorization": f"Bearer {key}"}, timeout=60)
    assert answer.status_code == 200
    np.testing.assert_allclose(answer.json(), want[:4], atol=1e-5)
    logs = service.get_logs()
    assert "loaded the SavedModel from" in logs and "score worker ready: fashion-savedmodel:1" in logs
    pid = service._record["pid"]
    service.delete()
    assert not Path(f"/proc/{pid}").exists() and Webservice.list(v1) == []
    assert not (workspace / "webservices" / "fashion-sm.json").exists()


def test_a_keras2_json_and_h5_pair_is_served_in_the_keras2_environment(v1, workspace, tmp_path):
    from azureml.core.model import InferenceConfig, Model
    from azureml.core.webservice import LocalWebservice

    from trainkit.keras2_shim import script_env
    from trainkit.serve.score_env import resolve

    python = resolve(KERAS2_ENV, str(workspace)).python            # the environment the service will run in
    out = tmp_path / "outputs" / "model"
    out.mkdir(parents=True)
    x = fashion_images(16)
    np.save(tmp_path / "outputs" / "x.npy", x)
    (tmp_path / "train2.py").write_text(KERAS2_TRAIN)
    made = subprocess.run([python, "train2.py", str(FASHION), str(out)], capture_output=True, text=True,
                          env=script_env({**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}), timeout=600)
    assert made.returncode == 0, made.stderr[-3000:]
    want = np.load(tmp_path / "outputs" / "expected.npy")

    model = Model.register(v1, model_path="outputs/model", model_name="fashion-keras2", tags={"keras": "2"})
    entry = model._entry
    assert {k: v["sha256"] for k, v in entry["manifest"].items() if k.startswith("files/")} == {
        "files/model/model.json": sha256(out / "model.json"), "files/model/model.h5": sha256(out / "model.h5")}
    assert entry["onnx"]["status"] in ("ok", "skipped") and entry["files"]["format"] == "json+weights"

    (tmp_path / "src2").mkdir()
    (tmp_path / "src2" / "score.py").write_text(KERAS2_SCORE)
    config = InferenceConfig(entry_script="score.py", source_directory="src2", environment=KERAS2_ENV)
    service = Model.deploy(v1, "fashion-k2", [model], config, LocalWebservice.deploy_configuration())
    service.wait_for_deployment()
    got = np.array(service.run(json.dumps({"data": x.tolist()}))["probabilities"])
    np.testing.assert_allclose(got, want, atol=1e-5)
    logs = service.get_logs()
    assert "keras tf_keras" in logs and "loaded ['model.h5', 'model.json']" in logs
    assert f"environments/{Path(python).parents[1].name}/bin/python" in logs    # the worker ran in the built env
    service.delete()
    assert service.state == "Deleted"


def test_a_v1_deploy_notebook_runs_on_a_real_kernel(workspace, tmp_path):
    """tests/fixtures/v1notebooks/deploy/deploy.ipynb: written as an Azure ML how-to notebook (train,
    Model.register, %%writefile score.py, Model.deploy to ACI with keys, service.run, requests, delete),
    with `%load_ext trainkit.azureml` as its first cell."""
    import re

    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(ROOT / "tests" / "fixtures" / "v1notebooks" / "deploy" / "deploy.ipynb", as_version=4)
    NotebookClient(nb, timeout=900, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    text = "\n".join(o.get("text", "") + o.get("data", {}).get("text/plain", "")
                     for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))
    assert "Traceback" not in text and "Error" not in text, text[-3000:]

    def listed(label: str) -> list:
        return json.loads(re.search(rf"^{label}: (\[.*\])$", text, re.M).group(1))

    assert "registered digits-mlp 1 digits-mlp:1" in text and "state: Healthy" in text
    served, local, labels = listed("service classes"), listed("local classes"), listed("labels")
    assert served == local and len(served) == 20
    assert sum(a == b for a, b in zip(served, labels)) >= 16                      # the model learned digits
    assert float(re.search(r"max difference: (\S+)", text).group(1)) < 1e-5
    assert "without key: 401" in text and f"with key: 200 {served[:3]}" in text
    assert "worker ready: True" in text and "service models: ['digits-mlp:1']" in text
    assert "services left: []" in text and not list((workspace / "webservices").glob("*.json"))
    assert (tmp_path / "score.py").is_file()
