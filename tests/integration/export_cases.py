"""The export coverage matrix's models (issue 24): every Keras 3 built-in activation and the listed
layers, each in a tiny model (a few hundred weights) so that the whole matrix exports in about a
minute. Each case is a function returning an unbuilt-weights functional model; weights are Keras'
own random initialisation with a fixed seed, plus non-trivial statistics where a layer's defaults
would make it the identity (BatchNormalization, Normalization).

Inputs are what `trainkit models register` checks parity on: uniform 0..255 for float inputs (raw
pixels; models start with Rescaling) and 0..255 for integer ones (token ids, vocabulary 256)."""
from __future__ import annotations

from typing import Callable

NOT_IN_KERAS = {   # activations Keras itself cannot run in a model, with the reason the docs give
    "threshold": "needs its threshold and default_value arguments, so it cannot be used by name",
    "glu": "halves the last axis, but the layer using it declares the input's width as its output's, "
           "so the next layer is built for the wrong width and the model fails in Keras",
}


# Keras 3.15's keras.activations (test_export_matrix checks this list against the installed Keras,
# so that an activation a new Keras adds fails the suite until it joins the matrix)
ACTIVATIONS = ("celu", "elu", "exponential", "gelu", "glu", "hard_shrink", "hard_sigmoid", "hard_silu", "hard_swish",
               "hard_tanh", "leaky_relu", "linear", "log_sigmoid", "log_softmax", "mish", "relu", "relu6", "selu",
               "sigmoid", "silu", "soft_shrink", "softmax", "softplus", "softsign", "sparse_plus", "sparse_sigmoid",
               "sparsemax", "squareplus", "swish", "tanh", "tanh_shrink", "threshold")


def installed_activations() -> list[str]:
    """Every public activation of the installed keras.activations."""
    import keras

    return sorted(n for n in dir(keras.activations)
                  if not n.startswith("_") and n not in ("get", "serialize", "deserialize"))


def _head(keras, x, units: int = 3):
    return keras.layers.Dense(units, activation="softmax", name="probabilities")(x)


def activation_model(name: str):
    import keras

    inp = keras.Input((8,), name="features")
    x = keras.layers.Rescaling(1 / 255.0)(inp)
    x = keras.layers.Activation(name)(keras.layers.Dense(6)(x))   # a layer: glu halves the width
    return keras.Model(inp, keras.layers.Dense(3)(x), name=f"act_{name}")


def _image(keras, shape=(8, 8, 1)):
    inp = keras.Input(shape, name="image")
    return inp, keras.layers.Rescaling(1 / 255.0)(inp)


def dense():
    import keras
    inp = keras.Input((8,), name="features")
    x = keras.layers.Rescaling(1 / 255.0)(inp)
    return keras.Model(inp, _head(keras, keras.layers.Dense(5, activation="relu")(x)))


def conv1d():
    import keras
    inp = keras.Input((12, 2), name="series")
    x = keras.layers.Rescaling(1 / 255.0)(inp)
    x = keras.layers.Conv1D(4, 3, activation="relu")(x)
    x = keras.layers.MaxPooling1D(2)(x)
    x = keras.layers.AveragePooling1D(2)(x)
    return keras.Model(inp, _head(keras, keras.layers.GlobalAveragePooling1D()(x)))


def conv2d():
    import keras
    inp, x = _image(keras)
    x = keras.layers.Conv2D(4, 3, padding="same", activation="relu")(x)
    return keras.Model(inp, _head(keras, keras.layers.Flatten()(x)))


def depthwise_conv2d():
    import keras
    inp, x = _image(keras, (8, 8, 2))
    x = keras.layers.DepthwiseConv2D(3, depth_multiplier=2)(x)
    return keras.Model(inp, _head(keras, keras.layers.Flatten()(x)))


def separable_conv2d():
    import keras
    inp, x = _image(keras, (8, 8, 2))
    x = keras.layers.SeparableConv2D(4, 3, padding="same")(x)
    return keras.Model(inp, _head(keras, keras.layers.Flatten()(x)))


def conv2d_transpose():
    import keras
    inp, x = _image(keras, (4, 4, 2))
    x = keras.layers.Conv2DTranspose(2, 3, strides=2, padding="same")(x)
    return keras.Model(inp, _head(keras, keras.layers.Flatten()(x)))


def max_pooling2d():
    import keras
    inp, x = _image(keras)
    return keras.Model(inp, _head(keras, keras.layers.Flatten()(keras.layers.MaxPooling2D(2)(x))))


def average_pooling2d():
    import keras
    inp, x = _image(keras)
    return keras.Model(inp, _head(keras, keras.layers.Flatten()(keras.layers.AveragePooling2D(2)(x))))


def global_average_pooling2d():
    import keras
    inp, x = _image(keras, (6, 6, 3))
    x = keras.layers.Conv2D(4, 3)(x)
    return keras.Model(inp, _head(keras, keras.layers.GlobalAveragePooling2D()(x)))


def _randomise(layer, seed: int) -> None:
    """Non-default values for every weight (moving statistics included): variances positive."""
    import numpy as np

    rng = np.random.default_rng(seed)
    layer.set_weights([rng.uniform(0.5, 1.5, w.shape).astype(w.dtype) for w in layer.get_weights()])


def batch_normalization():
    import keras
    inp, x = _image(keras)
    x = keras.layers.Conv2D(3, 3)(x)
    bn = keras.layers.BatchNormalization()
    model = keras.Model(inp, _head(keras, keras.layers.Flatten()(bn(x))))
    _randomise(bn, 1)
    return model


def layer_normalization():
    import keras
    inp = keras.Input((8,), name="features")
    x = keras.layers.Dense(6)(keras.layers.Rescaling(1 / 255.0)(inp))
    ln = keras.layers.LayerNormalization()
    model = keras.Model(inp, _head(keras, ln(x)))
    _randomise(ln, 2)
    return model


def dropout():
    import keras
    inp = keras.Input((8,), name="features")
    x = keras.layers.Dense(6, activation="relu")(keras.layers.Rescaling(1 / 255.0)(inp))
    return keras.Model(inp, _head(keras, keras.layers.Dropout(0.5)(x)))


def embedding():
    import keras
    inp = keras.Input((6,), dtype="int32", name="tokens")
    x = keras.layers.Embedding(256, 4)(inp)
    return keras.Model(inp, _head(keras, keras.layers.GlobalAveragePooling1D()(x)))


def _sequence(keras):
    inp = keras.Input((5, 3), name="sequence")
    return inp, keras.layers.Rescaling(1 / 255.0)(inp)


def lstm():
    import keras
    inp, x = _sequence(keras)
    return keras.Model(inp, _head(keras, keras.layers.LSTM(4)(x)))


def gru():
    import keras
    inp, x = _sequence(keras)
    return keras.Model(inp, _head(keras, keras.layers.GRU(4)(x)))


def bidirectional():
    import keras
    inp, x = _sequence(keras)
    x = keras.layers.Bidirectional(keras.layers.LSTM(4, return_sequences=True))(x)
    return keras.Model(inp, _head(keras, keras.layers.GlobalAveragePooling1D()(x)))


def transformer_encoder():
    """A pre-norm-free encoder block: self-attention + residual + LayerNorm, a GELU feed-forward +
    residual + LayerNorm (the block every transformer repeats)."""
    import keras
    inp = keras.Input((6, 8), name="sequence")
    x = keras.layers.Rescaling(1 / 255.0)(inp)
    attended = keras.layers.MultiHeadAttention(num_heads=2, key_dim=4)(x, x)
    x = keras.layers.LayerNormalization()(keras.layers.Add()([x, attended]))
    ff = keras.layers.Dense(8)(keras.layers.Dense(16, activation="gelu")(x))
    x = keras.layers.LayerNormalization()(keras.layers.Add()([x, ff]))
    return keras.Model(inp, _head(keras, keras.layers.GlobalAveragePooling1D()(x)))


def normalization():
    import numpy as np

    import keras
    inp = keras.Input((4,), name="features")
    norm = keras.layers.Normalization(mean=np.array([10.0, 50.0, 120.0, 200.0]),
                                      variance=np.array([4.0, 100.0, 900.0, 2500.0]))
    return keras.Model(inp, _head(keras, keras.layers.Dense(5, activation="tanh")(norm(inp))))


def resizing():
    import keras
    inp, x = _image(keras, (8, 8, 1))
    x = keras.layers.Resizing(4, 4)(x)
    return keras.Model(inp, _head(keras, keras.layers.Flatten()(x)))


def add_concatenate():
    import keras
    inp = keras.Input((8,), name="features")
    x = keras.layers.Rescaling(1 / 255.0)(inp)
    a, b = keras.layers.Dense(4, activation="relu")(x), keras.layers.Dense(4, activation="tanh")(x)
    x = keras.layers.Concatenate()([keras.layers.Add()([a, b]), a])
    return keras.Model(inp, _head(keras, x))


def two_inputs():
    import keras
    image = keras.Input((4, 4, 1), name="image")
    meta = keras.Input((3,), name="meta")
    x = keras.layers.Flatten()(keras.layers.Rescaling(1 / 255.0)(image))
    y = keras.layers.Rescaling(1 / 255.0)(meta)
    x = keras.layers.Concatenate()([keras.layers.Dense(4, activation="relu")(x), y])
    return keras.Model([image, meta], _head(keras, x))


LAYERS: dict[str, Callable] = {f.__name__: f for f in (
    dense, conv1d, conv2d, depthwise_conv2d, separable_conv2d, conv2d_transpose, max_pooling2d,
    average_pooling2d, global_average_pooling2d, batch_normalization, layer_normalization, dropout,
    embedding, lstm, gru, bidirectional, transformer_encoder, normalization, resizing, add_concatenate,
    two_inputs)}


def cases() -> dict[str, Callable]:
    """Case name -> model builder: `activation_<name>` for each usable activation, then the layers."""
    out = {f"activation_{n}": (lambda n=n: activation_model(n)) for n in ACTIVATIONS if n not in NOT_IN_KERAS}
    return {**out, **LAYERS}
