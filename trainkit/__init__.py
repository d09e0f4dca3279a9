"""trainkit: declarative, config-driven Keras 3 training, from the command line or from Python.

    import trainkit as tk
    run = tk.submit("+experiment=fashion_mnist_dnn", "trainer.epochs=3")   # detached; returns at once
    run.wait(show_output=True)
    run.metrics()["test_accuracy"]
    mv = run.register_model("fashion", aliases=["staging"])
    tk.Workspace().model("fashion@staging").predict(x)

`import trainkit` stays light: every name below is imported on first use, and TensorFlow only
when a model is built or loaded. `trainkit.run` is the in-run API of training scripts
(`get_context()`, `log`, ...)."""

from importlib import import_module

__version__ = "0.1.0"

_NAMES = {   # public name -> the module that defines it
    "Workspace": "trainkit.api.workspace", "Run": "trainkit.api.run", "Sweep": "trainkit.api.sweeps",
    "ModelVersion": "trainkit.api.models", "DatasetVersion": "trainkit.api.datasets",
    "submit": "trainkit.api.submit", "sweep": "trainkit.api.submit", "RunDetails": "trainkit.api.notebook",
    "ConfigError": "trainkit.errors", "RunFailed": "trainkit.errors", "TrainkitError": "trainkit.errors",
    "DataError": "trainkit.errors", "UsageError": "trainkit.errors",
}
_ALIASES = {"NotFound": ("trainkit.errors", "NotFoundError")}

__all__ = sorted([*_NAMES, *_ALIASES, "run", "__version__"])


def __getattr__(name: str):
    """The public API, imported on first use (and `trainkit.run`, the in-run module)."""
    if name == "run":
        return import_module("trainkit.run")
    if name in _NAMES:
        return getattr(import_module(_NAMES[name]), name)
    if name in _ALIASES:
        module, attr = _ALIASES[name]
        return getattr(import_module(module), attr)
    raise AttributeError(f"module 'trainkit' has no attribute {name!r}")


def __dir__() -> list[str]:
    return __all__
