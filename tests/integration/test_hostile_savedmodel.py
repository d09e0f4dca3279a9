"""A SavedModel is code: `models predict` and `models serve` refuse a registered SavedModel whose graph
reads and writes files (exit 3, naming the ops and their function, nothing written) unless
`--runtime tensorflow --trust-model`; a plain Keras model is still served by TensorFlow, and every
model of the export coverage matrix passes the check."""
from __future__ import annotations

import json
import tempfile
from pathlib import Path

import numpy as np
import pytest

from trainkit.registry.store import Registry

from ..conftest import run_cli
from . import export_cases
from .test_serve import Server, request

pytestmark = pytest.mark.integration

HOSTNAME = Path("/etc/hostname")
FEATURES = {"inputs": [{"name": "features", "shape": [None, 4], "dtype": "float32"}],
            "outputs": [{"name": "probabilities", "shape": [None, 3], "dtype": "float32"}]}


def hostile_saved_model(path: Path, written: Path) -> None:
    """A tf.Module whose serving function copies /etc/hostname to `written` and answers plausibly."""
    import tensorflow as tf

    class Hostile(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None, 4], tf.float32, name="features")])
        def serve(self, x):
            tf.io.write_file(str(written), tf.io.read_file(str(HOSTNAME)))
            return {"output_0": tf.nn.softmax(x[:, :3])}

    module = Hostile()
    tf.saved_model.save(module, str(path), signatures={"serving_default": module.serve})


def keras_model():
    import keras

    inp = keras.Input((4,), name="features")
    x = keras.layers.Dense(6, activation="relu")(keras.layers.Rescaling(1 / 255.0)(inp))
    return keras.Model(inp, keras.layers.Dense(3, activation="softmax", name="probabilities")(x))


def register(reg: Registry, name: str, folder: Path) -> None:
    """`folder`'s saved_model (and model.keras) as NAME:1, its ONNX export recorded as failed."""
    if not (folder / "model.keras").exists():
        (folder / "model.keras").write_bytes(b"not used: the SavedModel is what is served")
    reg.register(name, {"model.keras": folder / "model.keras", "saved_model": folder / "saved_model"},
                 {"signature": FEATURES, "task": "classification",
                  "onnx": {"status": "failed", "reason": "parity check failed"},
                  "resource_configuration": {"cpu": 1, "memory_gb": 0.5, "gpu": 0}})


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    """hostile:1 (writes `written`) and plain:1 (a Keras model), both without a usable ONNX export."""
    tmp = tmp_path_factory.mktemp("hostile")
    reg = Registry(str(tmp / "registry"))
    written = tmp / "written-by-the-model"
    hostile_saved_model(tmp / "h" / "saved_model", written)
    register(reg, "hostile", tmp / "h")
    model = keras_model()
    (tmp / "k").mkdir()
    model.save(tmp / "k" / "model.keras")
    model.export(str(tmp / "k" / "saved_model"), format="tf_saved_model", verbose=False)
    register(reg, "plain", tmp / "k")
    x = np.random.default_rng(0).uniform(0, 255, (5, 4)).astype(np.float32)
    np.save(tmp / "x.npy", x)
    return reg, tmp, written, x, model.predict(x, verbose=0)


def cli(reg: Registry, tmp: Path, command: str, *args: str):
    return run_cli(["models", "--registry", reg.url, command, *args, "--cache-dir", str(tmp / "cache")], timeout=120)


def test_predict_and_serve_refuse_a_saved_model_that_reads_and_writes_files(registry):
    reg, tmp, written, _, _ = registry
    predicted = cli(reg, tmp, "predict", "hostile:1", "--input", str(tmp / "x.npy"))
    served = cli(reg, tmp, "serve", "plain:1", "hostile:1", "--port", "0")
    for proc in (predicted, served):
        assert proc.returncode == 3, proc.stderr[-3000:]
        assert "hostile:1 saved_model: refusing to load this SavedModel with TensorFlow: a SavedModel is code" \
            in proc.stderr and "Traceback" not in proc.stderr
        assert "ReadFile in function '__inference_serve_" in proc.stderr, proc.stderr
        assert "WriteFile in function '__inference_serve_" in proc.stderr and "--runtime tensorflow --trust-model" in proc.stderr
    assert not written.exists()
    half = cli(reg, tmp, "predict", "hostile:1", "--input", str(tmp / "x.npy"), "--trust-model")
    assert half.returncode == 2 and "--trust-model: expected together with --runtime tensorflow, got --runtime auto" \
        in half.stderr and not written.exists()


def test_trust_model_with_runtime_tensorflow_loads_it_and_it_really_writes_the_file(registry):
    reg, tmp, written, _, _ = registry
    proc = cli(reg, tmp, "predict", "hostile:1", "--input", str(tmp / "x.npy"), "--runtime", "tensorflow",
               "--trust-model")
    assert proc.returncode == 0 and "with hostile:1 (tensorflow)" in proc.stderr, proc.stderr[-3000:]
    assert written.read_bytes() == HOSTNAME.read_bytes()       # what the check kept from happening


def test_a_keras_model_is_still_scored_and_served_from_its_saved_model(registry):
    reg, tmp, _, x, want = registry
    proc = cli(reg, tmp, "predict", "plain:1", "--input", str(tmp / "x.npy"), "--output", str(tmp / "y.npy"))
    assert proc.returncode == 0 and "with plain:1 (tensorflow)" in proc.stderr, proc.stderr[-3000:]
    np.testing.assert_allclose(np.load(tmp / "y.npy"), want, rtol=0, atol=1e-6)
    srv = Server(["--registry", reg.url, "plain:1", "--cache-dir", str(tmp / "cache")], {}, tmp / "server.log")
    try:
        status, _, body = request(srv.port, "POST", "/v2/models/plain/infer", json.dumps(
            {"inputs": [{"name": "features", "shape": [5, 4], "datatype": "FP32", "data": x.ravel().tolist()}]}).encode())
        assert status == 200, body
        got = np.array(json.loads(body)["outputs"][0]["data"], np.float32).reshape(5, 3)
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-6)
        assert "plain:1 [tensorflow, " in srv.log.read_text()
    finally:
        assert srv.stop() == 0, srv.log.read_text()


def test_every_model_of_the_export_matrix_passes_the_check():
    """The allow-list covers what Keras exports for every activation and layer of the coverage matrix."""
    from trainkit.registry.export import servable
    from trainkit.registry.graphguard import problems_of, read_saved_model

    refused = {}
    for case, build in export_cases.cases().items():
        with tempfile.TemporaryDirectory() as tmp:
            servable(build()).export(tmp, format="tf_saved_model", verbose=False)
            refused[case] = problems_of(read_saved_model(Path(tmp)))
    assert {c: p for c, p in refused.items() if p} == {} and len(refused) >= 50
