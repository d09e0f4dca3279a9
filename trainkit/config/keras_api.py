"""Keras' losses, metrics and optimizers by name, with their constructor arguments, read from a table
shipped with trainkit (`keras_api.json`), so that compose-time checks import no TensorFlow.
`generate()` rebuilds the table from the installed Keras (`python -m trainkit.config.keras_api`);
a unit test checks that the shipped table matches the installed Keras."""
from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

TABLE = Path(__file__).with_name("keras_api.json")
KINDS = {"losses": "Loss", "metrics": "Metric", "optimizers": "Optimizer"}
SKIP = {"LossScaleOptimizer", "MultiOptimizer", "MeanMetricWrapper", "LossFunctionWrapper", "Loss", "Metric",
        "Optimizer", "Reduction"}
ALIASES = {  # short names Keras users type, as in keras.losses.get / model.compile
    "losses": {"mse": "mean_squared_error", "mae": "mean_absolute_error", "mape": "mean_absolute_percentage_error",
               "msle": "mean_squared_logarithmic_error", "kld": "kl_divergence", "logcosh": "log_cosh"},
    "metrics": {"mse": "mean_squared_error", "mae": "mean_absolute_error", "mape": "mean_absolute_percentage_error",
                "msle": "mean_squared_logarithmic_error", "rmse": "root_mean_squared_error",
                "acc": "accuracy", "kld": "kl_divergence"},
    "optimizers": {},
}
# "accuracy" means the accuracy that fits the loss, as in model.compile(metrics=["accuracy"])
ACCURACY_FOR_LOSS = {"sparse_categorical_crossentropy": "sparse_categorical_accuracy",
                     "categorical_crossentropy": "categorical_accuracy",
                     "binary_crossentropy": "binary_accuracy", "binary_focal_crossentropy": "binary_accuracy"}


@lru_cache(maxsize=1)
def table() -> dict:
    return json.loads(TABLE.read_text())


def lookup(kind: str, name: str) -> dict | None:
    """{class, params, default_name} of a Keras loss/metric/optimizer by any of its names, or None."""
    entries = table()[kind]
    key = str(name).lower()
    key = ALIASES[kind].get(key, key)
    return entries.get(key)


def canonical_loss(name: str) -> str:
    """The snake_case name of a Keras loss (`mse` -> mean_squared_error); user targets unchanged."""
    entry = lookup("losses", name) if ":" not in str(name) else None
    return entry["default_name"] if entry else str(name)


def generate() -> dict:
    """The table from the installed Keras (imports TensorFlow)."""
    import inspect

    import keras

    def params(cls) -> tuple[list[str], bool]:
        names: list[str] = []
        for klass in cls.__mro__:
            init = klass.__dict__.get("__init__")
            if init is None:
                continue
            sig = inspect.signature(init)
            names += [p.name for p in list(sig.parameters.values())[1:]
                      if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and p.name not in names]
            if not any(p.kind == p.VAR_KEYWORD for p in sig.parameters.values()):
                return names, False
        return names, True

    out: dict = {"keras": ".".join(keras.__version__.split(".")[:2])}
    for kind, base_name in KINDS.items():
        module = getattr(keras, kind)
        base = getattr(module, base_name)
        entries = {}
        for attr in sorted(dir(module)):
            cls = getattr(module, attr)
            if not (inspect.isclass(cls) and issubclass(cls, base)) or attr in SKIP:
                continue
            names, var_kw = params(cls)
            var_kw = var_kw and kind != "optimizers"   # Keras' base optimizer refuses unknown keywords
            try:
                default = cls().name if kind != "optimizers" else attr.lower()
            except TypeError:   # needs arguments (e.g. IoU's num_classes)
                default = attr.lower()
            default = default.rstrip("_0123456789") if kind == "metrics" else default
            entry = {"class": attr, "params": names, "var_keyword": var_kw, "default_name": default}
            entries[attr.lower()] = entries[default] = entry
        out[kind] = dict(sorted(entries.items()))
    return out


def installed_version() -> str | None:
    from importlib import metadata

    try:
        return ".".join(metadata.version("keras").split(".")[:2])
    except metadata.PackageNotFoundError:
        return None


if __name__ == "__main__":
    TABLE.write_text(json.dumps(generate(), indent=1, sort_keys=True) + "\n")
    print(f"wrote {TABLE}")
