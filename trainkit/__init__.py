"""trainkit: declarative, config-driven Keras 3 training."""

__version__ = "0.1.0"


def __getattr__(name: str):
    """`trainkit.run` after a bare `import trainkit` (imported on first use: it stays light)."""
    if name == "run":
        from importlib import import_module

        return import_module("trainkit.run")
    raise AttributeError(f"module 'trainkit' has no attribute {name!r}")
