"""Azure ML SDK v1's `azureml.core` on trainkit: `Run` for scripts (`Run.get_context()`), and the
control plane notebooks use (Workspace, Experiment, ScriptRunConfig, Environment, Dataset, ...).
Names are imported when first used, so a script's `from azureml.core import Run` stays light."""
from importlib import import_module

VERSION = "1.60.0"   # the v1 SDK release this layer follows (its last)

_WHERE = {
    "Run": "run", "Workspace": "workspace", "Experiment": "experiment", "ScriptRunConfig": "script_run_config",
    "Environment": "environment", "Dataset": "dataset", "Datastore": "datastore", "ComputeTarget": "compute",
    "RunConfiguration": "runconfig", "Model": "model", "Webservice": "webservice",
}

__all__ = ["VERSION", *_WHERE]


def __getattr__(name: str):
    if name in _WHERE:
        value = getattr(import_module(f"{__name__}.{_WHERE[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'azureml.core' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_WHERE))
