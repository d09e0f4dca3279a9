"""A small CNN for images: [H, W] or [H, W, C] raw pixels -> Conv-Pool x2 -> Dense -> softmax.
Named in conf/model/cnn.yaml as `_target_: trainkit.models.cnn.build`."""
from __future__ import annotations


def build(input_shape: list[int], num_classes: int = 10, filters: list[int] = (32, 64), dense: int = 128,
          dropout: float = 0.25, seed: int = 0):
    """Grayscale images without a channel axis get one; pixels are scaled inside the model."""
    import keras

    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"model.dropout: expected a number in [0, 1), got {dropout}")
    inputs = keras.Input(shape=tuple(input_shape), dtype="float32", name="image")
    x = keras.layers.Rescaling(1.0 / 255.0, name="scale")(inputs)
    if len(input_shape) == 2:
        x = keras.layers.Reshape((*input_shape, 1), name="channel")(x)
    for i, f in enumerate(filters):
        x = keras.layers.Conv2D(f, 3, padding="same", activation="relu", name=f"conv_{i + 1}")(x)
        x = keras.layers.MaxPooling2D(name=f"pool_{i + 1}")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    x = keras.layers.Dense(dense, activation="relu", name="dense")(x)
    if dropout > 0:
        x = keras.layers.Dropout(dropout, seed=seed, name="dropout")(x)
    outputs = keras.layers.Dense(num_classes, activation="softmax", dtype="float32", name="probabilities")(x)
    return keras.Model(inputs, outputs, name="small_cnn")
