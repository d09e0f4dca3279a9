"""The seeds' DNN: Rescaling -> Flatten -> Dense... -> output. Named in conf/model/mnist_dnn.yaml as
`_target_: trainkit.models.mnist_dnn.build`; trainkit passes input_shape, num_classes and seed."""
from __future__ import annotations


def build(input_shape: list[int], num_classes: int | None = 10, hidden: list[int] = (300, 100),
          activation: str = "relu", dropout: float = 0.0, scale: float = 1.0 / 255.0,
          outputs: int | None = None, output_activation: str | None = None, seed: int = 0):
    """A functional Keras 3 model taking raw values (pixels 0..255, float32).

    Scaling lives inside the model so the exported SavedModel and ONNX file take raw inputs.
    Outputs: `num_classes` softmax probabilities; for num_classes=null (regression) one linear
    unit. `outputs`/`output_activation` override that (e.g. 1 and sigmoid for a binary task).
    """
    import keras

    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"model.dropout: expected a number in [0, 1), got {dropout}")
    units = outputs or num_classes or 1
    act = output_activation or ("softmax" if units > 1 else "linear" if num_classes is None else "sigmoid")
    inputs = keras.Input(shape=tuple(input_shape), dtype="float32", name="image" if len(input_shape) > 1 else "features")
    x = keras.layers.Rescaling(scale, name="scale")(inputs)
    x = keras.layers.Flatten(name="flatten")(x)
    for i, width in enumerate(hidden):
        x = keras.layers.Dense(width, activation=activation, name=f"hidden_{i + 1}")(x)
        if dropout > 0:
            x = keras.layers.Dropout(dropout, seed=seed + i, name=f"dropout_{i + 1}")(x)
    name = "prediction" if act == "linear" else "probabilities"
    outputs_ = keras.layers.Dense(units, activation=act, dtype="float32", name=name)(x)   # float32 under mixed precision
    return keras.Model(inputs, outputs_, name="mnist_dnn")
