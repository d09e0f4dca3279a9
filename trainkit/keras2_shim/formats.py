"""What a training script saved at `entry.model_path`, told by its files (no TensorFlow): a .keras
file, a SavedModel directory, a whole-model .h5 file, or a model's JSON with its weights (Keras 2's
`to_json()` + `save_weights()`: an .h5 file or a TensorFlow checkpoint prefix), given as the JSON,
the weights, or the directory holding the pair."""
from __future__ import annotations

import json
from pathlib import Path

from ..errors import ConfigError

H5 = (".h5", ".hdf5")
WEIGHT_ENDINGS = (".weights.h5", ".h5", ".hdf5")


def locate(path: Path) -> dict | None:
    """{"format": keras | saved_model | h5 | json+weights, "model": path[, "weights": path]}, or
    None when nothing trainkit can register is there."""
    if path.is_dir():
        if (path / "saved_model.pb").exists():
            return {"format": "saved_model", "model": path}
        configs = [p for p in sorted(path.glob("*.json")) if is_model_json(p)]
        return with_weights(configs[0]) if len(configs) == 1 else None
    if not path.is_file():
        return None
    if path.suffix == ".keras":
        return {"format": "keras", "model": path}
    if path.suffix == ".json":
        return with_weights(path)
    if path.suffix in H5:
        return {"format": "h5", "model": path} if whole_model(path) else with_architecture(path)
    return None


def stem(path: Path) -> str:
    """A model file's name without its ending (model.weights.h5 -> model)."""
    return next((path.name[:-len(e)] for e in WEIGHT_ENDINGS if path.name.endswith(e)), path.name.split(".")[0])


def with_weights(config: Path) -> dict:
    """A model's JSON and its weights: <stem>.h5 / .weights.h5 / .hdf5, a checkpoint <stem>.index,
    else the only weights-only .h5 file beside it."""
    base = config.with_name(stem(config))
    found = [base.with_name(base.name + e) for e in WEIGHT_ENDINGS if base.with_name(base.name + e).is_file()]
    if not found and base.with_name(base.name + ".index").is_file():
        found = [base]
    if not found:
        found = [p for p in sorted(config.parent.iterdir()) if p.suffix in H5 and not whole_model(p)]
    if len(found) != 1:
        raise ConfigError([f"entry.model_path: {config} is a model's JSON; expected one weights file beside it "
                           f"({base.name}.h5, {base.name}.weights.h5 or the checkpoint {base.name}.index), "
                           f"got {[p.name for p in found] or 'none'}"])
    return {"format": "json+weights", "model": config, "weights": found[0]}


def with_architecture(weights: Path) -> dict:
    """A weights-only .h5 file and the model's JSON: <stem>.json, else the only model JSON beside it."""
    same = weights.with_name(stem(weights) + ".json")
    found = [same] if same.is_file() else [p for p in sorted(weights.parent.glob("*.json")) if is_model_json(p)]
    if len(found) != 1:
        raise ConfigError([f"entry.model_path: {weights} holds weights only; expected the model's JSON "
                           f"(model.to_json()) beside it as {same.name}, got {[p.name for p in found] or 'none'}"])
    return {"format": "json+weights", "model": found[0], "weights": weights}


def whole_model(path: Path) -> bool:
    """Whether an .h5 file holds a whole model (Keras's `model_config`), not only weights."""
    import h5py

    with h5py.File(path, "r") as f:
        return "model_config" in f.attrs


def is_model_json(path: Path) -> bool:
    """Whether a .json file is a Keras model's architecture (class_name and config at the top)."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return False
    return isinstance(data, dict) and {"class_name", "config"} <= data.keys()


def relative(saved: dict, base: Path) -> dict:
    """The format and the files (relative to `base` where inside it), as a registry entry records them."""
    def name(p: Path) -> str:
        return str(p.relative_to(base)) if p.is_relative_to(base) else str(p)

    return {"format": saved["format"], "files": [name(saved[k]) for k in ("model", "weights") if k in saved]}
