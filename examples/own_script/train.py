"""A plain Keras training script, the kind you already have: argparse, MNIST-format IDX files from
--data-folder, model.fit, the model saved under ./outputs. trainkit runs it unchanged; the only
trainkit line is `get_context()`, which logs metrics to the run (and prints them when run alone)."""
import argparse
import gzip
import os

import numpy as np

from trainkit.run import get_context

parser = argparse.ArgumentParser()
parser.add_argument("--data-folder", required=True, help="a folder of *-idx?-ubyte.gz files")
parser.add_argument("--epochs", type=int, default=5)
parser.add_argument("--batch-size", type=int, default=64)
parser.add_argument("--learning-rate", type=float, default=0.001)
parser.add_argument("--limit", type=int, default=None, help="train on the first N images only")
args = parser.parse_args()


def load(prefix):
    with gzip.open(os.path.join(args.data_folder, f"{prefix}-images-idx3-ubyte.gz")) as f:
        x = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 28, 28)
    with gzip.open(os.path.join(args.data_folder, f"{prefix}-labels-idx1-ubyte.gz")) as f:
        y = np.frombuffer(f.read(), np.uint8, offset=8)
    return x.astype("float32") / 255.0, y.astype("int32")


import keras  # noqa: E402  (after argparse: --help stays fast)

run = get_context()
(x_train, y_train), (x_test, y_test) = load("train"), load("t10k")
x_train, y_train = x_train[:args.limit], y_train[:args.limit]
keras.utils.set_random_seed(0)
model = keras.Sequential([keras.Input((28, 28)), keras.layers.Flatten(),
                          keras.layers.Dense(256, activation="relu"), keras.layers.Dropout(0.2),
                          keras.layers.Dense(10, activation="softmax")])
model.compile(keras.optimizers.Adam(args.learning_rate), "sparse_categorical_crossentropy", metrics=["accuracy"])


class LogToRun(keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        run.log_dict({"loss": logs["loss"], "accuracy": logs["accuracy"], "val_accuracy": logs["val_accuracy"]},
                     step=epoch + 1)


model.fit(x_train, y_train, epochs=args.epochs, batch_size=args.batch_size, validation_split=0.1, verbose=2,
          callbacks=[LogToRun()])
loss, accuracy = model.evaluate(x_test, y_test, verbose=0)
run.log_dict({"test_loss": loss, "test_accuracy": accuracy})
os.makedirs("outputs", exist_ok=True)
model.save("outputs/model.keras")              # registered and exported to ONNX by trainkit
print(f"test accuracy {accuracy:.4f}")
