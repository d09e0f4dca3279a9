"""A residual MLP: a model of the project's own, with its own parameters.

trainkit calls `build` with the parameters of `conf/model/residual_mlp.yaml` and adds
`input_shape`, `num_classes` and `seed` because the signature asks for them. Keras is imported
inside the function, so composing a config never imports TensorFlow."""


def build(input_shape, num_classes, width=256, blocks=2, dropout=0.1, seed=0):
    import keras

    inputs = keras.Input(shape=tuple(input_shape), name="image")
    x = keras.layers.Rescaling(1.0 / 255.0)(inputs)        # raw pixels in: the ONNX export takes them too
    x = keras.layers.Dense(width, activation="relu")(keras.layers.Flatten()(x))
    for i in range(blocks):
        h = keras.layers.Dense(width, activation="relu")(x)
        h = keras.layers.Dropout(dropout, seed=seed + i)(h)
        x = keras.layers.LayerNormalization()(keras.layers.Add()([x, keras.layers.Dense(width)(h)]))
    outputs = keras.layers.Dense(num_classes, activation="softmax", name="probabilities")(x)
    return keras.Model(inputs, outputs, name="residual_mlp")
