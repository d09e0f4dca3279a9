"""Putting models into the registry: from a finished run (the chief), from a path, and re-exports.

This is `run.register_model(...)`, `Model.register(...)` and "export to ONNX" of the seeds.
"""
from __future__ import annotations

import tempfile
from pathlib import Path

from ..errors import NotFoundError, UsageError
from ..fsutil import read_json
from .files import files_record, original_artifacts, run_files
from .store import ModelRef, Registry

def framework() -> dict:
    import keras
    import tensorflow as tf

    return {"framework": "TensorFlow/Keras", "framework_version": tf.__version__,
            "keras_version": keras.__version__}


def onnx_settings(**overrides) -> dict:
    """export.onnx settings: the schema's defaults with some replaced (for the CLI's commands)."""
    from dataclasses import asdict

    from ..config.schema import OnnxExportConfig

    return {**asdict(OnnxExportConfig()), **overrides}


def _export(model, out_dir: Path, onnx_cfg: dict, x, y, data: str, kind: str = "classification") -> dict:
    """`onnx_cfg` has OnnxExportConfig's fields (from a run's config, or the CLI's flags)."""
    from .export import export_and_check

    if not onnx_cfg["enabled"]:
        return {"status": "disabled"}
    return export_and_check(model, out_dir / "model.onnx", int(onnx_cfg["opset"]), x, y, data=data, kind=kind,
                            max_abs_diff=float(onnx_cfg["max_abs_diff"]),
                            min_argmax_agreement=float(onnx_cfg["min_argmax_agreement"]))


def _artifacts(keras_file: Path, saved_model: Path | None, onnx_file: Path | None) -> dict[str, Path]:
    """What a version holds: the .keras file, plus the SavedModel and ONNX file where they exist."""
    arts = {"model.keras": keras_file}
    if saved_model is not None and saved_model.is_dir():
        arts["saved_model"] = saved_model
    if onnx_file is not None and onnx_file.exists():
        arts["model.onnx"] = onnx_file
    return arts


def run_metadata(spec, model, onnx: dict, metrics: dict, kind: str, tags: dict, description: str = "",
                 saved: dict | None = None) -> dict:
    """A version's entry fields for a model a run trained: its lineage (run id, experiment, dataset
    name/version/digest, config hash) with the run's resource configuration and tags; `saved`: what
    a script saved and in what format (its path, format, files, Keras major, any conversion)."""
    from .export import keras_signature

    cfg, ds = spec.config, spec.dataset
    return {**framework(), "task": kind,
            "resource_configuration": dict(cfg["registry"]["resource_configuration"]),
            "description": description or cfg["registry"]["description"] or f"{spec.experiment}, run {spec.run_id}",
            "tags": {**cfg["run"]["tags"], **cfg["registry"]["tags"], **tags}, "metrics": metrics,
            "run_id": spec.run_id, "experiment": spec.experiment,
            "dataset": {k: ds[k] for k in ("name", "version", "digest")}, "config_hash": spec.config_hash,
            "signature": keras_signature(model), "onnx": onnx, "source": {"kind": "run", "run_dir": spec.run_dir},
            **({"saved": saved} if saved else {})}


def register_run_model(spec, model, model_dir: Path, x_test, y_test, metrics: dict,
                       kind: str = "classification", name: str | None = None, tags: dict | None = None,
                       saved: dict | None = None) -> dict:
    """The chief's last step: export ONNX next to the run's model (parity on the run's own test
    split), then register all artifacts."""
    from .export import servable

    model = servable(model)
    reg, onnx_cfg = spec.config["registry"], spec.config["export"]["onnx"]
    n = onnx_cfg["parity_samples"] or len(x_test)
    ds = spec.dataset
    onnx = _export(model, model_dir, onnx_cfg, x_test[:n], y_test[:n],
                   data=f"{ds['name']} v{ds['version']} test[:{min(n, len(x_test))}]", kind=kind)
    exported = model_dir / "model.onnx" if onnx.get("status") in ("ok", "failed") else None
    arts = _artifacts(model_dir / "model.keras", model_dir / "saved_model", exported)
    metadata = run_metadata(spec, model, onnx, metrics, kind, dict(tags or {}), saved=saved)
    if saved:   # a script's model: its files as it saved them too (registry/files.py: AZUREML_MODEL_DIR)
        arts.update(run_files(Path(spec.run_dir), saved["path"], saved))
        metadata["files"] = files_record(Path(spec.run_dir) / saved["path"], saved)
    return Registry(reg["root"]).register(name or reg["model_name"] or spec.experiment, arts, metadata,
                                          aliases=list(reg["aliases"]))


def register_from_run(registry: Registry, run_dir: Path, name: str, path: str | None, *, tags: dict,
                      aliases: list[str], description: str = "") -> dict:
    """`run.register_model(name, path)` after the run: the model at `path` in the run (default: its
    outputs/model, else the script's entry.model_path) registered with the run's lineage, exported
    to ONNX and checked on the run's own test split, as the run's automatic registration does."""
    from ..records.spec import JobSpec
    from ..records.workspace import RunPaths
    from .export import servable

    paths = RunPaths(Path(run_dir))
    spec = JobSpec.read(paths.spec)
    status = read_json(paths.status, {}) or {}
    if status.get("state") != "completed":
        raise UsageError(f"run {spec.run_id}: expected a completed run to register a model from, got "
                         f"{status.get('state')!r}")
    if path and (Path(path).is_absolute() or ".." in Path(path).parts):
        raise UsageError(f"--path {path!r}: expected a path inside run {spec.run_id} (like outputs/model/model.keras)")
    candidates = [path] if path else ["outputs/model/model.keras", spec.config["entry"].get("model_path") or ""]
    model_file = next((paths.root / c for c in candidates if c and (paths.root / c).exists()
                       and not (paths.root / c).is_symlink()), None)
    if model_file is None:
        raise NotFoundError(f"run {spec.run_id}: no model at {' or '.join(c for c in candidates if c)} "
                            f"(files under outputs/: see `trainkit runs show {spec.run_id}`)")
    try:
        model, saved = load_model_file(model_file, spec, paths.root)
    except Exception as e:  # noqa: BLE001 - files named by the caller are registered as they are all the same
        if not path:
            raise
        return register_run_files(registry, spec, status, model_file, name, tags=tags, aliases=aliases,
                                  description=description, problem=e)
    model = servable(model)
    kind = model_kind(spec, model)
    x, y, data = run_test_split(spec, paths, model)
    with tempfile.TemporaryDirectory(prefix="trainkit-register-") as tmp:
        out = Path(tmp)
        onnx = _export(model, out, spec.config["export"]["onnx"], x, y, data, kind=kind)
        arts = _run_artifacts(model, model_file, saved, paths.root, out)
        metadata = run_metadata(spec, model, onnx, status.get("final_metrics") or {}, kind, tags, description, saved)
        if path:   # the files as they are, under their own name (registry/files.py: AZUREML_MODEL_DIR)
            arts.update(run_files(paths.root, path, saved))
            metadata["files"] = files_record(model_file, saved or {"format": "keras"})
        return registry.register(name, arts, metadata, aliases=aliases)


def _run_artifacts(model, model_file: Path, saved: dict | None, run_dir: Path, out: Path) -> dict[str, Path]:
    """A run's model file as a version's artifacts: a Keras 3 .keras file as it is (with the
    SavedModel beside it), anything else saved again as model.keras (with the SavedModel it is, or
    was converted to)."""
    if model_file.suffix == ".keras" and (saved is None or saved["keras"] == "3"):
        return _artifacts(model_file, model_file.parent / "saved_model", out / "model.onnx")
    model.save(out / "model.keras")
    tf_saved = run_dir / saved["converted_to"] if saved.get("converted_to") else model_file
    return _artifacts(out / "model.keras", tf_saved if saved["format"] == "saved_model" or saved.get("converted_to")
                      else None, out / "model.onnx")


def run_test_split(spec, paths, model):
    """The parity inputs the run's own registration uses: its test split (a script's model: as the
    script fed it, script_models.parity_inputs)."""
    from ..data.load import load_data

    data = load_data(spec.cfg.dataset, spec.dataset)
    if spec.config["entry"]["name"] == "script":
        from .script_models import parity_inputs

        x, y = parity_inputs(spec, paths, model, data)
    else:
        x, y = data.test.arrays(spec.cfg.export.onnx.parity_samples)
    return x, y, f"{spec.dataset['name']} v{spec.dataset['version']} test[:{len(x)}]"


def load_model_file(path: Path, spec, run_dir: Path):
    """(model, what was saved) of a model file in a run: trainkit's own .keras file, or what a
    script saved (script_models.load_script_model: a SavedModel, .h5, JSON + weights, ...)."""
    from ..keras2_shim import is_keras2
    from ..records.workspace import RunPaths

    own = path == RunPaths(run_dir).model_dir / "model.keras"    # trainkit's (Keras 3) copy of the run's model
    if path.is_file() and path.suffix == ".keras" and (own or not is_keras2(spec.config["environment"])):
        return load_keras(path)[0], None
    from .script_models import load_script_model

    model, saved = load_script_model(spec, run_dir, str(path.relative_to(run_dir)))
    if model is None:
        raise NotFoundError(f"{path}: expected a .keras file, a SavedModel directory, an .h5 file or a model's "
                            "JSON with its weights")
    return model, saved


def model_kind(spec, model) -> str:
    """classification or regression: from the run's loss (trainkit's loop) or the model's outputs."""
    if spec.config["entry"]["name"] == "trainer":
        from ..config.keras_api import canonical_loss
        from ..train.task import task_kind

        return task_kind(canonical_loss(spec.config["trainer"]["loss"]))
    units = model.outputs[0].shape[-1]
    return "classification" if units and units > 1 else "regression"


def load_keras(path: Path):
    """A Keras model from a .keras file or a directory holding model.keras (a run's outputs/model)."""
    import keras

    file = path / "model.keras" if path.is_dir() else path
    if not file.is_file() or file.suffix != ".keras":
        raise NotFoundError(f"{path}: expected a .keras file or a directory containing model.keras "
                            f"(like a run's outputs/model), got "
                            f"{'a directory without model.keras' if path.is_dir() else 'no such file' if not path.exists() else 'a ' + (file.suffix or 'suffix-less') + ' file'}")
    try:
        return keras.saving.load_model(file, compile=False), file
    except Exception as e:  # noqa: BLE001 - any load failure means the file is not a usable model
        raise NotFoundError(f"{file}: not a loadable Keras model ({type(e).__name__}: {e})") from e


def register_path(registry: Registry, name: str, path: Path, *, framework_version: str | None,
                  description: str, tags: dict, aliases: list[str], resources: dict,
                  onnx_cfg: dict, samples: int) -> dict:
    """`trainkit models register NAME PATH`: bring an existing Keras model into the registry."""
    from .export import keras_signature, random_inputs, servable

    model, file = load_keras(path)
    model = servable(model)
    signature = keras_signature(model)
    with tempfile.TemporaryDirectory(prefix="trainkit-register-") as tmp:
        out = Path(tmp)
        onnx = _export(model, out, onnx_cfg, random_inputs(signature, samples), None,
                       data=f"random({samples})")
        arts = _artifacts(file, path / "saved_model" if path.is_dir() else None, out / "model.onnx")
        fw = framework()
        if framework_version:
            fw["framework_version"] = framework_version
        metadata = {**fw, "resource_configuration": resources, "description": description, "tags": tags,
                    "metrics": {}, "run_id": None, "experiment": None, "dataset": None, "config_hash": None,
                    "signature": signature, "onnx": onnx, "source": {"kind": "path", "path": str(path.resolve())}}
        return registry.register(name, arts, metadata, aliases=aliases)


def parity_data(entry: dict, workspace_root: str | None, samples: int | None):
    """Test images of the dataset the model was trained on, if this workspace has them; else random."""
    from .export import random_inputs

    ds = entry.get("dataset")
    if ds:
        from ..config.schema import DatasetConfig, from_dict
        from ..data.datasets import DatasetStore
        from ..data.load import load_data
        from ..records.workspace import WorkspacePaths

        try:
            dv = DatasetStore(WorkspacePaths.at(workspace_root)).get(ds["name"], ds["version"])
        except NotFoundError:
            dv = None
        if dv is not None and dv.digest == ds["digest"] and dv.config:   # the config it was verified with
            cfg = {**dv.config, "limit_train": None, "limit_test": None}    # the whole test split
            test = load_data(from_dict(DatasetConfig, cfg), dv.to_json()).test
            x, y = test.arrays(samples)
            return x, y, f"{ds['name']} v{ds['version']} test[:{len(x)}]"
    n = samples or 1000
    return random_inputs(entry["signature"], n), None, f"random({n})"


def reexport(registry: Registry, ref: str, opset: int | None, samples: int | None,
             workspace_root: str | None) -> dict:
    """`trainkit models export REF`: convert a registered version again and update its entry."""
    from ..config.schema import OPSETS

    name, version = registry.resolve(ModelRef.parse(ref))
    entry = registry.entry(ModelRef(name, version))
    previous = entry.get("onnx") or {}
    opset = opset or previous.get("opset") or 17
    if not OPSETS[0] <= opset <= OPSETS[1]:
        raise UsageError(f"--opset: expected an integer in [{OPSETS[0]}, {OPSETS[1]}] "
                           f"(what tf2onnx converts to), got {opset}")
    registry.require_intact(name, version)
    with tempfile.TemporaryDirectory(prefix="trainkit-export-") as tmp:
        out = Path(tmp)
        registry.download(name, version, out, "model.keras")
        from .export import servable

        model = servable(load_keras(out / "model.keras")[0])
        x, y, data = parity_data(entry, workspace_root, samples)
        thresholds = previous.get("thresholds", {})
        onnx = _export(model, out, onnx_settings(opset=opset, **thresholds), x, y, data,
                       kind=entry.get("task", "classification"))
        arts = {"model.onnx": out / "model.onnx"} if (out / "model.onnx").exists() else {}
        return registry.update(name, version, {"onnx": onnx}, arts)


# ------------------------------------------------------------------ files as they are (registry/files.py)
def load_for_export(path: Path):
    """(a Keras 3 model, what `keras2_shim.formats.locate` found, '') for the model at `path`, or
    (None, what was found or None, why trainkit cannot load it). A SavedModel's graph is checked
    (registry/graphguard.py) before TensorFlow loads it."""
    from ..errors import ConfigError
    from ..keras2_shim.formats import locate

    try:
        saved = locate(path)
    except ConfigError as e:
        return None, None, "; ".join(e.problems)
    if saved is None:
        return None, None, (f"{path}: not a Keras model trainkit loads (a .keras file, a SavedModel folder, an .h5 "
                            "file or a model's JSON with its weights); the files are kept for score.py")
    try:
        return _load_saved(saved), saved, ""
    except Exception as e:  # noqa: BLE001 - the files are registered all the same
        return None, saved, f"trainkit could not load it with Keras 3 ({type(e).__name__}: {e}); the files are kept"


def _load_saved(saved: dict):
    import keras

    if saved["format"] == "saved_model":
        from .graphguard import check_saved_model
        from .script_models import wrap_saved_model

        check_saved_model(saved["model"])
        return wrap_saved_model(saved["model"])
    if saved["format"] == "json+weights":
        model = keras.models.model_from_json(Path(saved["model"]).read_text())
        model.load_weights(str(saved["weights"]))
        return model
    return keras.saving.load_model(saved["model"], compile=False)


def beside_files(model, saved: dict, onnx: dict, out: Path) -> dict[str, Path]:
    """What goes beside the files: model.onnx (when exported), model.keras (the file itself, or saved
    again by Keras 3; not for a SavedModel), saved_model (a SavedModel without a usable ONNX export)."""
    arts: dict[str, Path] = {}
    if (out / "model.onnx").exists():
        arts["model.onnx"] = out / "model.onnx"
    if saved["format"] == "keras":
        arts["model.keras"] = Path(saved["model"])
    elif saved["format"] != "saved_model":
        model.save(out / "model.keras")
        arts["model.keras"] = out / "model.keras"
    elif onnx.get("status") != "ok":
        arts["saved_model"] = Path(saved["model"])
    return arts


def register_files(registry: Registry, name: str, path: Path, *, tags: dict, description: str = "",
                   aliases: list[str] = (), resources: dict | None = None, properties: dict | None = None,
                   onnx_cfg: dict | None = None, samples: int = 200, framework_version: str | None = None,
                   lineage: dict | None = None) -> dict:
    """Register the file or folder at `path` as it is (under files/<its name>), with ONNX beside it
    when trainkit can load the model; returns the entry. Never fails for a failed export (see `onnx`).
    `lineage`: a run's fields (run_id, dataset, metrics, ...) replacing those of a file's."""
    from dataclasses import asdict

    from ..config.schema import ResourceConfiguration
    from .export import keras_signature, random_inputs, servable

    arts = original_artifacts(path)
    model, saved, reason = load_for_export(path)
    with tempfile.TemporaryDirectory(prefix="trainkit-register-") as tmp:
        out = Path(tmp)
        if model is None:
            signature, onnx = {"inputs": [], "outputs": []}, {"status": "skipped", "reason": reason}
        else:
            model = servable(model)
            signature = keras_signature(model)
            onnx = _export(model, out, onnx_cfg or onnx_settings(), random_inputs(signature, samples), None,
                           data=f"random({samples})")
            arts.update(beside_files(model, saved, onnx, out))
        fw = framework() if model is not None else {"framework": None, "framework_version": None, "keras_version": None}
        if framework_version:
            fw["framework_version"] = framework_version
        metadata = {**fw, "resource_configuration": resources or asdict(ResourceConfiguration()),
                    "description": description, "tags": dict(tags), "properties": dict(properties or {}),
                    "metrics": {}, "run_id": None, "experiment": None, "dataset": None, "config_hash": None,
                    "signature": signature, "onnx": onnx, "source": {"kind": "path", "path": str(path.resolve())},
                    "files": files_record(path, saved),
                    **(lineage or {})}
        return registry.register(name, arts, metadata, aliases=list(aliases))


def register_run_files(registry: Registry, spec, status: dict, path: Path, name: str, *, tags: dict,
                       aliases: list[str], description: str, problem: Exception) -> dict:
    """`run.register_model(name, model_path)` of files the run's own loader could not read (say, a
    model's JSON with weights from a Keras 3 script): registered as they are, with the run's lineage."""
    import logging

    cfg = spec.config
    logging.getLogger("trainkit").warning("run %s: %s: %s; registering the files as they are", spec.run_id, path,
                                          problem)
    lineage = {"resource_configuration": dict(cfg["registry"]["resource_configuration"]),
               "metrics": status.get("final_metrics") or {}, "run_id": spec.run_id, "experiment": spec.experiment,
               "dataset": {k: spec.dataset[k] for k in ("name", "version", "digest")},
               "config_hash": spec.config_hash, "source": {"kind": "run", "run_dir": spec.run_dir}}
    return register_files(registry, name, path, tags={**cfg["run"]["tags"], **cfg["registry"]["tags"], **tags},
                          description=description or f"{spec.experiment}, run {spec.run_id}", aliases=aliases,
                          lineage=lineage)
