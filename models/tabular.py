"""An MLP for tables: raw features -> Normalization (adapted by trainkit on the training split, so
exports take raw features) -> Dense... -> output. Named in conf/model/tabular.yaml."""
from __future__ import annotations


def build(input_shape: list[int], num_classes: int | None = None, hidden: list[int] = (64, 64),
          activation: str = "relu", dropout: float = 0.0, outputs: int | None = None,
          output_activation: str | None = None, seed: int = 0):
    """Outputs: num_classes softmax probabilities; one linear unit for regression (num_classes
    null); `outputs: 1, output_activation: sigmoid` for binary cross-entropy."""
    import keras

    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"model.dropout: expected a number in [0, 1), got {dropout}")
    units = outputs or num_classes or 1
    act = output_activation or ("softmax" if units > 1 else "linear" if num_classes is None else "sigmoid")
    inputs = keras.Input(shape=tuple(input_shape), dtype="float32", name="features")
    x = keras.layers.Normalization(axis=-1, name="normalize")(inputs)   # mean/variance: adapted by trainkit
    for i, width in enumerate(hidden):
        x = keras.layers.Dense(width, activation=activation, name=f"hidden_{i + 1}")(x)
        if dropout > 0:
            x = keras.layers.Dropout(dropout, seed=seed + i, name=f"dropout_{i + 1}")(x)
    name = "prediction" if act == "linear" else "probabilities"
    out = keras.layers.Dense(units, activation=act, dtype="float32", name=name)(x)
    return keras.Model(inputs, out, name="tabular_mlp")
