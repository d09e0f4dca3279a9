"""The baseline the benchmarks compare trainkit with: a plain, seed-style Keras script (the Azure
ML TensorFlow how-to's shape): read the MNIST-format IDX files, scale to [0, 1], a Sequential DNN,
`model.fit`, `model.evaluate`. It imports nothing from trainkit.

    python scripts/baselines/plain_keras.py --data-folder /usr/share/datasets/fashion-mnist \
        [--hidden 256 128] [--conv 32 64] [--batch-size 64] [--epochs 5] [--seed 0] [--callback module:Class]

`--conv F...` puts Conv2D(F, 3x3, same, ReLU) + MaxPool blocks before the dense layers (a small CNN).

`--callback` adds a keras.callbacks.Callback (the benchmarks' clock) to fit; the last line printed
is a JSON object with the test accuracy.
"""
import argparse
import gzip
import importlib
import json
import os

import numpy as np


def load(folder, images, labels):
    with gzip.open(os.path.join(folder, images)) as f:
        x = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 28, 28)
    with gzip.open(os.path.join(folder, labels)) as f:
        y = np.frombuffer(f.read(), np.uint8, offset=8)
    return (x / 255.0).astype("float32"), y.astype("int32")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--data-folder", required=True)
    p.add_argument("--hidden", type=int, nargs="+", default=[256, 128])
    p.add_argument("--conv", type=int, nargs="*", default=[])
    p.add_argument("--dropout", type=float, default=0.0)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--learning-rate", type=float, default=0.001)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--callback", default=None, help="module:Class of a Keras callback to add")
    args = p.parse_args()

    import keras

    x, y = load(args.data_folder, "train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz")
    xt, yt = load(args.data_folder, "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")
    keras.utils.set_random_seed(args.seed)
    convs = [keras.layers.Reshape((28, 28, 1))] if args.conv else []
    for f in args.conv:
        convs += [keras.layers.Conv2D(f, 3, padding="same", activation="relu"), keras.layers.MaxPooling2D()]
    model = keras.Sequential([keras.Input((28, 28)), *convs, keras.layers.Flatten()]
                             + [keras.layers.Dense(w, activation="relu") for w in args.hidden]
                             + ([keras.layers.Dropout(args.dropout)] if args.dropout else [])
                             + [keras.layers.Dense(10, activation="softmax")])
    model.compile(keras.optimizers.Adam(args.learning_rate), "sparse_categorical_crossentropy", metrics=["accuracy"])
    callbacks = []
    if args.callback:
        module, cls = args.callback.split(":")
        callbacks.append(getattr(importlib.import_module(module), cls)())
    model.fit(x, y, batch_size=args.batch_size, epochs=args.epochs, verbose=2, callbacks=callbacks)
    loss, acc = model.evaluate(xt, yt, verbose=0)
    print(json.dumps({"test_accuracy": float(acc), "test_loss": float(loss)}))


if __name__ == "__main__":
    main()
