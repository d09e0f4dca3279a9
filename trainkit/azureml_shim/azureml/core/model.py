"""Azure ML SDK v1's `azureml.core.model` over trainkit's registry: `Model` (a registered version),
`InferenceConfig` (a score.py and its environment) and `Model.deploy` (a `trainkit models serve
--score` process: azureml.core.webservice).

A model registered from files keeps them as they were (trainkit/registry/files.py): a score.py finds
them at `os.path.join(AZUREML_MODEL_DIR, '<name of the registered file or folder>')`, and
`Model.get_model_path(name)` answers as Azure's does, inside a score worker (under
AZUREML_MODEL_DIR) and in a notebook (a verified local copy of the version's files). This module
imports no TensorFlow until a model is registered."""
from __future__ import annotations

import datetime
import json
import os
import shutil
from pathlib import Path

from .._tk import note, tk_workspace, unsupported
from ..exceptions import ModelNotFoundException, UserErrorException, WebserviceException


class ModelNotFound(ModelNotFoundException, WebserviceException):
    """No registered version matches (Azure raised WebserviceException; both catch it)."""


def _registry(workspace):
    return (workspace._tk if workspace is not None else tk_workspace()).registry


def _workspace_root(workspace) -> Path:
    return (workspace._tk if workspace is not None else tk_workspace()).root


class _Framework:
    """`Model.Framework.TENSORFLOW` and the rest: the names Azure's register_model takes."""

    CUSTOM, MULTI, ONNX, PYTORCH, SCIKITLEARN, TENSORFLOW, KERAS = (
        "Custom", "Multi", "Onnx", "PyTorch", "ScikitLearn", "TensorFlow", "Keras")


class Model:
    """One registered version: `Model(ws, name)` (the latest), `Model(ws, name, version=2)`,
    `Model(ws, id="name:2")`; `tags`, `properties`, `run_id` filter as Azure's do."""

    Framework = _Framework

    def __init__(self, workspace, name: str | None = None, id: str | None = None, tags=None, properties=None,
                 version: int | None = None, run_id: str | None = None, model_framework: str | None = None,
                 expand: bool = True, **kwargs):
        if id:
            name, _, number = id.partition(":")
            version = version or (int(number) if number.isdigit() else None)
        if not name:
            raise UserErrorException("Model: expected a name or an id ('name:version'), got neither")
        self.workspace = workspace
        self._entry = _find(_registry(workspace), name, version, tags, properties, run_id, model_framework)

    # ------------------------------------------------------------------ what it is
    name = property(lambda self: self._entry["name"])
    version = property(lambda self: int(self._entry["version"]))
    id = property(lambda self: f"{self.name}:{self.version}")
    tags = property(lambda self: dict(self._entry.get("tags") or {}))
    properties = property(lambda self: dict(self._entry.get("properties") or {}))
    description = property(lambda self: self._entry.get("description") or "")
    run_id = property(lambda self: self._entry.get("run_id"))
    experiment_name = property(lambda self: self._entry.get("experiment"))
    url = property(lambda self: self._entry.get("path"))
    model_framework = property(lambda self: self._entry.get("model_framework") or self._entry.get("framework"))
    model_framework_version = property(lambda self: self._entry.get("model_framework_version")
                                       or self._entry.get("framework_version"))

    @property
    def created_time(self) -> datetime.datetime:
        return datetime.datetime.fromtimestamp(self._entry["created"], datetime.timezone.utc)

    def __repr__(self) -> str:
        return (f"Model(workspace={self.workspace!r}, name={self.name}, id={self.id}, version={self.version}, "
                f"tags={self.tags}, properties={self.properties})")

    def serialize(self) -> dict:
        return {"name": self.name, "version": self.version, "id": self.id, "tags": self.tags,
                "properties": self.properties, "description": self.description, "runId": self.run_id,
                "createdTime": self.created_time.isoformat(), "url": self.url, "framework": self.model_framework}

    # ------------------------------------------------------------------ registering
    @staticmethod
    def register(workspace, model_path: str, model_name: str, tags: dict | None = None,
                 properties: dict | None = None, description: str | None = None, datasets=None,
                 model_framework: str | None = None, model_framework_version: str | None = None,
                 child_paths=None, sample_input_dataset=None, sample_output_dataset=None,
                 resource_configuration=None, **kwargs) -> "Model":
        """Register the file or folder at `model_path` as the next version of `model_name`, kept as it is
        (and exported to ONNX beside it when trainkit can load it as a Keras model)."""
        from trainkit.registry.files import check_model_path
        from trainkit.registry.publish import register_files

        if child_paths:
            unsupported("Model.register(child_paths=...)", "register a folder that holds only those files")
        if sample_input_dataset is not None or sample_output_dataset is not None:
            unsupported("Model.register(sample_input_dataset/sample_output_dataset)",
                        "the model's registered signature (`trainkit models show NAME`)")
        print(f"Registering model {model_name} from {model_path}")
        extra = {"model_framework": model_framework, "model_framework_version": model_framework_version,
                 "datasets": [[scenario, getattr(ds, "name", str(ds))] for scenario, ds in (datasets or [])]}
        entry = register_files(_registry(workspace), model_name, check_model_path(model_path), tags=dict(tags or {}),
                               description=description or "", properties=properties,
                               resources=_resources(resource_configuration), lineage=extra)
        onnx = entry.get("onnx") or {}
        if onnx.get("status") != "ok":
            note(f"model {model_name}:{entry['version']}: no ONNX export ({onnx.get('status')}: {onnx.get('reason')}); "
                 "its files are registered as they are and a score.py deployment serves them")
        return Model(workspace, model_name, version=entry["version"])

    @staticmethod
    def list(workspace, name: str | None = None, tags=None, properties=None, run_id: str | None = None,
             latest: bool = False, **kwargs) -> list:
        """Registered versions (newest first), filtered as Model(...) filters."""
        reg = _registry(workspace)
        out = []
        for model_name in [name] if name else reg.names():
            found = [v for v in reversed(reg.versions(model_name))
                     if _matches(reg.entry(f"{model_name}:{v}"), tags, properties, run_id, None)]
            out += [Model(workspace, model_name, version=v) for v in (found[:1] if latest else found)]
        return out

    # ------------------------------------------------------------------ files
    @staticmethod
    def get_model_path(model_name: str, version: int | None = None, _workspace=None) -> str:
        """Where the model's files are: inside a score worker, under AZUREML_MODEL_DIR; elsewhere, a
        verified local copy of the registered version's files. A version holding one file or folder
        answers with that file or folder, as Azure's does."""
        from trainkit.registry.files import model_path_in

        if os.environ.get("AZUREML_MODEL_DIR") and _workspace is None:
            return str(model_path_in(_deployed_dir(model_name, version)))
        return str(model_path_in(_local_copy(_workspace, model_name, version)))

    def download(self, target_dir: str = ".", exist_ok: bool = False, exists_ok: bool | None = None, **kwargs) -> str:
        """Copy the version's files into `target_dir`; the path of the model file or folder there."""
        from trainkit.registry.files import model_path_in

        source = _local_copy(self.workspace, self.name, self.version)
        target = Path(target_dir)
        clash = [p.name for p in source.iterdir() if (target / p.name).exists()] if target.is_dir() else []
        if clash and not (exist_ok or exists_ok):
            raise WebserviceException(f"Model.download: {', '.join(clash)} already exist(s) in {target}; "
                                      "pass exist_ok=True to replace them")
        target.mkdir(parents=True, exist_ok=True)
        for item in source.iterdir():
            _replace(item, target / item.name)
        inner = model_path_in(source)
        return str(target / inner.name) if inner != source else str(target)

    # ------------------------------------------------------------------ changing it
    def add_tags(self, tags: dict) -> None:
        self._update({"tags": {**self.tags, **tags}})

    def remove_tags(self, tags) -> None:
        self._update({"tags": {k: v for k, v in self.tags.items() if k not in set(tags)}})

    def add_properties(self, properties: dict) -> None:
        self._update({"properties": {**self.properties, **properties}})

    def update(self, tags: dict | None = None, description: str | None = None, **kwargs) -> None:
        if kwargs:
            unsupported(f"Model.update({', '.join(kwargs)}=...)", "Model.register(...) of a new version")
        fields = {k: v for k, v in (("tags", tags), ("description", description)) if v is not None}
        self._update(fields)

    def update_tags_properties(self, add_tags=None, remove_tags=None, add_properties=None, remove_properties=None):
        tags = {k: v for k, v in {**self.tags, **(add_tags or {})}.items() if k not in set(remove_tags or ())}
        props = {k: v for k, v in {**self.properties, **(add_properties or {})}.items()
                 if k not in set(remove_properties or ())}
        self._update({"tags": tags, "properties": props})

    def delete(self) -> None:
        _registry(self.workspace).delete(self.name, self.version)

    def _update(self, fields: dict) -> None:
        self._entry = _registry(self.workspace).update(self.name, self.version, fields)

    # ------------------------------------------------------------------ deploying
    @staticmethod
    def deploy(workspace, name: str, models: list, inference_config=None, deployment_config=None,
               deployment_target=None, overwrite: bool = False, show_output: bool = False):
        """Start `trainkit models serve MODELS --score ...` for the service `name` (a Webservice)."""
        from .webservice._launch import deploy

        return deploy(workspace, name, models, inference_config, deployment_config, deployment_target,
                      overwrite, show_output)

    @staticmethod
    def package(*args, **kwargs):
        unsupported("Model.package (Docker images)", "`trainkit models serve NAME --score score.py` on the host "
                    "(or Model.deploy)")

    @staticmethod
    def profile(*args, **kwargs):
        unsupported("Model.profile", "scripts/bench_serve.py, or load the served endpoint with wrk; the server's "
                    "/metrics has its latency histogram")

    def get_sas_urls(self):
        unsupported("Model.get_sas_urls", "model.download(target_dir) or `trainkit models download NAME:VERSION`")


class InferenceConfig:
    """A score.py (`entry_script`, inside `source_directory` when given) and the trainkit environment its
    worker runs in (`environment`: an Environment, or a trainkit environment name)."""

    def __init__(self, entry_script: str | None = None, runtime: str | None = None, conda_file: str | None = None,
                 extra_docker_file_steps: str | None = None, source_directory: str | None = None,
                 enable_gpu: bool | None = None, description: str | None = None, base_image: str | None = None,
                 base_image_registry=None, cuda_version: str | None = None, environment=None):
        for key, value, instead in (("runtime", runtime, "environment=... (Python is the only runtime)"),
                                    ("conda_file", conda_file, "environment=Environment.from_conda_specification(...)"),
                                    ("extra_docker_file_steps", extra_docker_file_steps, "an environment's pip packages"),
                                    ("enable_gpu", enable_gpu, "a GPU environment, e.g. tensorflow-2.21-gpu"),
                                    ("base_image", base_image, "a trainkit environment (no container images)"),
                                    ("cuda_version", cuda_version, "a GPU environment, e.g. tensorflow-2.21-gpu")):
            if value:
                unsupported(f"InferenceConfig({key}=...)", instead)
        self.entry_script, self.source_directory = entry_script, source_directory
        self.environment, self.description = environment, description

    def score_path(self) -> Path:
        """The entry script, checked: a file (inside source_directory when given)."""
        if not self.entry_script:
            raise WebserviceException("InferenceConfig: expected entry_script (a score.py with init() and run()), "
                                      "got none (deployments without a score.py are not supported)")
        path = Path(self.source_directory or ".") / self.entry_script
        if not path.is_file():
            raise WebserviceException(f"InferenceConfig: entry_script {self.entry_script!r}: expected a file"
                                      f"{' in source_directory ' + repr(self.source_directory) if self.source_directory else ''}"
                                      f", got {'a directory' if path.is_dir() else 'no such file'} ({path.resolve()})")
        return path

    def validate_configuration(self) -> None:
        self.score_path()

    def __repr__(self) -> str:
        return (f"InferenceConfig(entry_script={self.entry_script!r}, source_directory={self.source_directory!r}, "
                f"environment={self.environment!r})")


# ------------------------------------------------------------------ helpers
def models_of(workspace) -> dict:
    """`ws.models`: {name: the latest Model}."""
    reg = _registry(workspace)
    return {name: Model(workspace, name) for name in reg.names() if reg.versions(name)}


def _find(reg, name: str, version, tags, properties, run_id, framework) -> dict:
    from trainkit.errors import NotFoundError

    try:
        candidates = [int(version)] if version is not None else list(reversed(reg.versions(name)))
        for v in candidates:
            entry = reg.entry(f"{name}:{v}")
            if _matches(entry, tags, properties, run_id, framework):
                return entry
    except NotFoundError as e:
        raise ModelNotFound(f"Model {name!r}{f' version {version}' if version else ''}: not registered "
                            f"({e})") from None
    raise ModelNotFound(f"Model {name!r}: no version matches tags={tags!r} properties={properties!r} "
                        f"run_id={run_id!r} (versions: {', '.join(map(str, reg.versions(name))) or 'none'})")


def _matches(entry: dict, tags, properties, run_id, framework) -> bool:
    """Azure's filters: tags/properties as names or [name, value] pairs (or a dict), run id, framework."""
    def ok(have: dict, wanted) -> bool:
        items = wanted.items() if isinstance(wanted, dict) else [w if isinstance(w, (list, tuple)) else (w, None)
                                                                 for w in wanted]
        return all(k in have and (v is None or str(have[k]) == str(v)) for k, v in items)

    return ((not tags or ok(entry.get("tags") or {}, tags))
            and (not properties or ok(entry.get("properties") or {}, properties))
            and (not run_id or entry.get("run_id") == run_id)
            and (not framework or framework in (entry.get("model_framework"), entry.get("framework"))))


def _resources(config) -> dict | None:
    """An Azure ResourceConfiguration (cpu, memory_in_gb, gpu) as the registry's resource_configuration."""
    if config is None:
        return None
    return {"cpu": getattr(config, "cpu", 1), "memory_gb": getattr(config, "memory_in_gb", 2),
            "gpu": getattr(config, "gpu", 0)}


def _deployed_dir(name: str, version: int | None) -> Path:
    """Inside a score worker: the version's folder under AZUREML_MODEL_DIR (one model: the folder itself)."""
    root = Path(os.environ["AZUREML_MODEL_DIR"])
    deployed = json.loads(os.environ.get("TRAINKIT_SCORE_MODELS") or "{}")
    if not deployed:   # AZUREML_MODEL_DIR set by hand: NAME/VERSION below it, or it is NAME/VERSION
        if root.parent.name == name:
            return root
        have = sorted((p for p in (root / name).glob("*") if p.name.isdigit()), key=lambda p: int(p.name))
        deployed = {name: int(have[-1].name)} if have else {}
    if name not in deployed or (version is not None and int(version) != deployed[name]):
        raise ModelNotFound(f"Model.get_model_path({name!r}{f', version={version}' if version else ''}): not "
                            f"deployed with this service (deployed: "
                            f"{', '.join(f'{n}:{v}' for n, v in deployed.items()) or 'none'})")
    return root if len(deployed) == 1 and root.name == str(deployed[name]) else root / name / str(deployed[name])


def _local_copy(workspace, name: str, version: int | None) -> Path:
    """A verified copy of the version's files (shared with the server: <workspace>/serving-cache/azureml-models)."""
    from trainkit.registry.files import materialize

    reg = _registry(workspace)
    entry = _find(reg, name, version, None, None, None, None)
    return materialize(reg, entry["name"], entry["version"],
                       _workspace_root(workspace) / "serving-cache" / "azureml-models" / entry["name"] / str(entry["version"]))


def _replace(src: Path, dst: Path) -> None:
    if dst.is_dir() and not dst.is_symlink():
        shutil.rmtree(dst)
    elif dst.exists() or dst.is_symlink():
        dst.unlink()
    if src.is_dir():
        shutil.copytree(src, dst)
    else:
        shutil.copy2(src, dst)
