"""Issue 24's export coverage matrix: every Keras 3 built-in activation and the listed layers
(export_cases.py), each in a tiny model that is registered (ONNX export + parity on 64 random
inputs, the way `trainkit models register` does it), then served, all at once, by one real
`trainkit models serve` and asked through tritonclient. The table in docs/guides/registry.md is
checked against these cases."""
from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pytest

from ..conftest import ROOT
from . import export_cases
from .test_serve import Server

pytestmark = pytest.mark.integration

CASES = export_cases.cases()
ROWS = 4              # served rows per case
RELATIVE = 1e-4       # the bound: |onnx - keras| / max(1, |keras|)


@dataclass
class Matrix:
    entries: dict        # case -> registry entry
    inputs: dict         # case -> {input name: array of ROWS}
    want: dict           # case -> Keras output on `inputs`
    server: Server


@pytest.fixture(scope="module")
def matrix(tmp_path_factory):
    import keras

    from trainkit.registry.export import feeds_of, random_inputs
    from trainkit.registry.publish import onnx_settings, register_path
    from trainkit.registry.store import Registry

    root = tmp_path_factory.mktemp("matrix")
    registry = Registry(str(root / "ws" / "models"))
    keras.utils.set_random_seed(0)
    entries, inputs, want = {}, {}, {}
    for case, build in CASES.items():
        model = build()
        path = root / f"{case}.keras"
        model.save(path)
        entries[case] = register_path(registry, case, path, framework_version=None, description=case, tags={},
                                      aliases=[], resources={"cpu": 1, "memory_gb": 0.5, "gpu": 0},
                                      onnx_cfg=onnx_settings(max_abs_diff=RELATIVE), samples=64)
        loaded = keras.saving.load_model(path, compile=False)          # what was registered, as Keras runs it
        inputs[case] = feeds_of(loaded, random_inputs(entries[case]["signature"], ROWS, seed=7))
        feeds = list(inputs[case].values())
        want[case] = np.asarray(loaded(feeds[0] if len(feeds) == 1 else feeds, training=False))
    server = Server([f"{case}:1" for case in CASES], {"TRAINKIT_WORKSPACE": str(root / "ws")}, root / "server.log")
    yield Matrix(entries, inputs, want, server)
    assert server.stop() == 0, server.log.read_text()[-3000:]


@pytest.mark.parametrize("case", list(CASES))
def test_exports_with_parity_and_is_served(matrix, case):
    import tritonclient.http as httpclient

    entry = matrix.entries[case]
    onnx = entry["onnx"]
    assert onnx["status"] == "ok", onnx["reason"]
    assert onnx["max_scaled_diff"] <= RELATIVE and onnx["samples"] == 64
    client = httpclient.InferenceServerClient(f"127.0.0.1:{matrix.server.port}")
    assert client.get_model_metadata(case)["platform"] == "onnxruntime_onnx"
    requests = []
    for spec in entry["signature"]["inputs"]:
        x = matrix.inputs[case][spec["name"]]
        r = httpclient.InferInput(spec["name"], list(x.shape), "INT32" if x.dtype.kind == "i" else "FP32")
        r.set_data_from_numpy(x, binary_data=True)
        requests.append(r)
    out = entry["signature"]["outputs"][0]["name"]
    got = client.infer(case, requests, outputs=[httpclient.InferRequestedOutput(out, binary_data=True)]).as_numpy(out)
    want = matrix.want[case]
    assert got.shape == want.shape
    assert np.max(np.abs(got - want) / np.maximum(1.0, np.abs(want))) <= RELATIVE


@pytest.mark.parametrize("name", sorted(export_cases.NOT_IN_KERAS))
def test_activations_left_out_fail_in_keras_itself(name):
    """What the matrix leaves out, it leaves out because Keras cannot run it in a model: if Keras
    changes, this fails and the activation joins the matrix."""
    import keras

    with pytest.raises((TypeError, ValueError)):
        model = export_cases.activation_model(name)
        model(np.ones((2, 8), np.float32))
    assert name in keras.activations.__dict__


def test_the_matrix_has_every_activation_of_the_installed_keras():
    assert list(export_cases.ACTIVATIONS) == export_cases.installed_activations()


def test_the_published_matrix_lists_every_case():
    """docs/guides/registry.md's table names every case (and every left-out activation with its reason)."""
    text = (ROOT / "docs" / "guides" / "registry.md").read_text()
    table = text[text.index("<!-- export-matrix -->"):text.index("<!-- /export-matrix -->")]
    listed = set(re.findall(r"^\| `([a-z0-9_]+)` \|", table, re.M))
    assert listed == set(CASES) | {f"activation_{n}" for n in export_cases.NOT_IN_KERAS}, \
        sorted(listed ^ (set(CASES) | {f"activation_{n}" for n in export_cases.NOT_IN_KERAS}))
