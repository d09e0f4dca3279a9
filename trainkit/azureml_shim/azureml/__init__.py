"""trainkit's stand-in for Azure ML SDK v1's `azureml` package: scripts get trainkit's run
(entry.azureml_compat=true) and notebooks the control plane (`%load_ext trainkit.azureml`)."""
from importlib import import_module

_SUBPACKAGES = ("core", "data", "exceptions", "train", "widgets", "telemetry")


def __getattr__(name: str):
    if name in _SUBPACKAGES:   # `import azureml` then `azureml.core.VERSION`, as the SDK allowed
        return import_module(f"{__name__}.{name}")
    raise AttributeError(f"module 'azureml' has no attribute {name!r}")
