"""`run.register_model(...)` from a notebook: the run's model (a file or folder inside the run)
registered with the run's lineage by trainkit (`trainkit.Run.register_model`), Azure's extra fields
(framework, its version, resources, properties) kept on the registry entry, returned as the
deployment side's `azureml.core.model.Model`."""
from __future__ import annotations


def register(run, name: str, model_path: str | None, tags, properties, framework, framework_version, description,
             resources):
    import os

    from trainkit.errors import TrainkitError

    from .exceptions import UserErrorException
    from .core.model import Model

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")   # TensorFlow loads here: no C++ info lines in the cell
    try:
        mv = run._api.register_model(name, model_path, tags={str(k): str(v) for k, v in (tags or {}).items()},
                                     description=description or "")
    except TrainkitError as e:
        raise UserErrorException(f"run.register_model({name!r}, {model_path!r}): {e}") from None
    fields = extra_fields(properties, framework, framework_version, resources)
    if fields:
        run._api.workspace.registry.update(mv.name, mv.version, fields)
    return Model(run.experiment.workspace, mv.name, version=mv.version)


def extra_fields(properties, framework, framework_version, resources) -> dict:
    """The registry entry's fields for Azure's register_model arguments (only those given)."""
    out: dict = {}
    if properties:
        out["properties"] = {str(k): str(v) for k, v in properties.items()}
    if framework:
        out["model_framework"] = str(framework)
    if framework_version:
        out["model_framework_version"] = str(framework_version)
    if resources is not None:
        out["resource_configuration"] = {"cpu": getattr(resources, "cpu", None) or 1,
                                         "memory_gb": getattr(resources, "memory_in_gb", None) or 0.5,
                                         "gpu": getattr(resources, "gpu", None) or 0}
    return out
