"""The seeds' DNN for 28x28 MNIST-format images: Rescaling -> Flatten -> Dense... -> softmax."""
from __future__ import annotations


def build(input_shape: list[int], hidden: list[int], activation: str = "relu",
          dropout: float = 0.0, num_classes: int = 10, seed: int = 0, **_: object):
    """A functional Keras 3 model taking raw pixels (0..255, float32) named `image`.

    Scaling lives inside the model so the exported SavedModel and ONNX file take raw pixels.
    """
    import keras

    inputs = keras.Input(shape=tuple(input_shape), dtype="float32", name="image")
    x = keras.layers.Rescaling(1.0 / 255.0, name="scale")(inputs)
    x = keras.layers.Flatten(name="flatten")(x)
    for i, units in enumerate(hidden):
        x = keras.layers.Dense(units, activation=activation, name=f"hidden_{i + 1}")(x)
        if dropout > 0:
            x = keras.layers.Dropout(dropout, seed=seed + i, name=f"dropout_{i + 1}")(x)
    outputs = keras.layers.Dense(num_classes, activation="softmax", name="probabilities")(x)
    return keras.Model(inputs, outputs, name="mnist_dnn")
