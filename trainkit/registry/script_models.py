"""The model a training script saved (`entry.model_path`), as the registry registers it: found
in whatever format the script used (`keras2_shim.formats.locate`), loaded by trainkit's Keras 3
(a .keras file, a SavedModel wrapped as a Keras model, a whole-model .h5), or first converted to a
SavedModel by tf_keras in the script's interpreter (Keras 2 formats); and the inputs its ONNX
parity check uses (`parity_inputs`)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from ..errors import TrainkitError
from ..keras2_shim import is_keras2
from ..keras2_shim import script_env as keras2_env
from ..records.workspace import RunPaths

PARITY_FILE = "outputs/parity_inputs.npy"   # representative inputs a script may save (.npy of x, or .npz of x, y)


def parity_inputs(spec, paths: RunPaths, model, data):
    """Inputs for the ONNX parity check of a script's model: what the script saved at PARITY_FILE
    (.npy, or .npz with x and y), else the run's test split reshaped to the model's input and, when
    it holds raw 0..255 pixels and the model has no rescaling or normalization layer of its own
    (the script scaled them before feeding), divided by 255."""
    import numpy as np

    n = spec.cfg.export.onnx.parity_samples
    for path in (paths.root / PARITY_FILE, (paths.root / PARITY_FILE).with_suffix(".npz")):
        if path.exists():
            saved = np.load(path)
            x, y = (saved["x"], saved["y"] if "y" in saved else None) if path.suffix == ".npz" else (saved, None)
            return x[:n], (None if y is None else y[:n])
    x, y = data.test.arrays(n)
    want = list(model.inputs[0].shape[1:])
    if None not in want and list(x.shape[1:]) != want and x[0].size == int(np.prod(want)):
        x = x.reshape(len(x), *want)
    own = {"Rescaling", "Normalization"} & {type(layer).__name__ for layer in model._flatten_layers()}
    if not own and x.size and 1.5 < float(x.max()) <= 255 and float(x.min()) >= 0:
        x = x / np.float32(255)
    return x, y


def wrap_saved_model(path: Path):
    """A TF SavedModel directory (its serving_default signature, one input) as a Keras 3 model."""
    import keras
    import tensorflow as tf

    fn = tf.saved_model.load(str(path)).signatures["serving_default"]
    [spec] = fn.structured_input_signature[1].values()
    inputs = keras.Input(shape=spec.shape[1:], dtype=spec.dtype, name=spec.name)
    layer = keras.layers.TFSMLayer(str(path), call_endpoint="serving_default")
    out = layer(inputs)
    out = next(iter(out.values())) if isinstance(out, dict) else out
    return keras.Model(inputs, out)


def load_script_model(spec, base: Path, model_path: str):
    """(model, what was saved) for the model a script saved at `model_path` under `base` (the run):
    what `keras2_shim.formats.locate` finds, loaded by trainkit's Keras 3 (a .keras file, a SavedModel,
    in a Keras 3 environment a whole-model .h5), or first converted to a SavedModel with tf_keras in
    a child process (environment.keras "2": .h5, JSON + weights, a tf_keras .keras file);
    (None, None) when nothing is there."""
    from ..keras2_shim.formats import locate, relative

    saved = locate(base / model_path)
    if saved is None:
        return None, None
    keras2 = is_keras2(spec.config["environment"])
    record = {"path": model_path, **relative(saved, base), "keras": "2" if keras2 else "3"}
    if saved["format"] == "saved_model":
        return wrap_saved_model(saved["model"]), record
    if not keras2:
        return load_keras3(saved), record
    out, converted = convert_keras2(spec, saved)
    record.update(converted, converted_to=str(out.relative_to(base)) if out.is_relative_to(base) else str(out))
    return wrap_saved_model(out), record


def load_keras3(saved: dict):
    """A .keras or whole-model .h5 file with Keras 3; JSON + weights needs tf_keras (ConfigError)."""
    import keras

    from ..errors import ConfigError

    if saved["format"] == "json+weights":
        raise ConfigError([f"entry.model_path: {saved['model']} is a model's JSON with weights "
                           f"({saved['weights']}), Keras 2's way of saving; expected environment.keras=2 to "
                           "register it (tf_keras loads it), or a .keras file or SavedModel"])
    return keras.saving.load_model(saved["model"], compile=False)


def convert_keras2(spec, saved: dict) -> tuple[Path, dict]:
    """What a Keras 2 script saved as a SavedModel next to it (`<name>_saved_model/`), converted
    by keras2_shim/convert.py in the script's interpreter under TF_USE_LEGACY_KERAS=1; returns its
    path and the converter's record (tf_keras version, model class, input shapes)."""
    from ..keras2_shim import convert

    src = Path(saved["model"])
    out = src.with_name(f"{src.name.split('.')[0]}_saved_model")
    python = spec.cfg.entry.python or (spec.built_env or {}).get("python") or sys.executable
    cmd = [python, convert.__file__, str(src), str(out)] + (["--weights", str(saved["weights"])] if saved.get("weights") else [])
    env = keras2_env({**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [env["PYTHONPATH"], str(Path(spec.run_dir) / "code")]))
    res = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=1800)
    if res.returncode != 0:
        tail = " | ".join(res.stderr.strip().splitlines()[-3:])
        raise TrainkitError(f"entry.model_path: {src} ({saved['format']}): tf_keras could not load it and save it "
                            f"as a SavedModel ({python}): {tail}")
    return out, json.loads(res.stdout.strip().splitlines()[-1])
