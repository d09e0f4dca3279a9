"""A seed-style training script, as in Azure ML's TensorFlow/Keras how-to: argparse, MNIST-format IDX
files from --data-folder, model.fit, the model saved to ./outputs, metrics logged to the run.
It knows nothing of trainkit beyond `run = get_context(); run.log(...)`."""
import argparse
import gzip
import os

import numpy as np

from trainkit.run import get_context


def load(folder, images, labels):
    with gzip.open(os.path.join(folder, images)) as f:
        x = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 784) / 255.0
    with gzip.open(os.path.join(folder, labels)) as f:
        y = np.frombuffer(f.read(), np.uint8, offset=8)
    return x.astype("float32"), y.astype("int32")


parser = argparse.ArgumentParser()
parser.add_argument("--data-folder", required=True)
parser.add_argument("--batch-size", type=int, default=50)
parser.add_argument("--first-layer-neurons", type=int, default=100)
parser.add_argument("--second-layer-neurons", type=int, default=100)
parser.add_argument("--learning-rate", type=float, default=0.001)
parser.add_argument("--epochs", type=int, default=2)
parser.add_argument("--limit", type=int, default=None)
parser.add_argument("--fail-after-epoch", type=int, default=None, help="exit 3 after this epoch (tests)")
args = parser.parse_args()

import keras  # noqa: E402

run = get_context()
x_train, y_train = load(args.data_folder, "train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz")
x_test, y_test = load(args.data_folder, "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")
x_train, y_train = x_train[:args.limit], y_train[:args.limit]
print(f"data: {len(x_train)} train, {len(x_test)} test from {args.data_folder}", flush=True)

keras.utils.set_random_seed(0)
model = keras.Sequential([keras.Input((784,)),
                          keras.layers.Dense(args.first_layer_neurons, activation="relu"),
                          keras.layers.Dense(args.second_layer_neurons, activation="relu"),
                          keras.layers.Dense(10, activation="softmax")])
model.compile(keras.optimizers.Adam(args.learning_rate), "sparse_categorical_crossentropy", metrics=["accuracy"])


class LogToRun(keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        run.log_dict({"loss": logs["loss"], "val_accuracy": logs["val_accuracy"]}, step=epoch + 1)
        run.report(logs["val_accuracy"], step=epoch + 1)   # a no-op unless this run is an Optuna trial
        if args.fail_after_epoch == epoch + 1:
            print(f"failing on purpose after epoch {epoch + 1}", flush=True)
            raise SystemExit(3)


model.fit(x_train, y_train, batch_size=args.batch_size, epochs=args.epochs, validation_split=0.1, verbose=2,
          callbacks=[LogToRun()])
loss, acc = model.evaluate(x_test, y_test, verbose=0)
run.log("test_accuracy", acc)
run.log("test_loss", loss)
os.makedirs("outputs", exist_ok=True)
model.save("outputs/model.keras")
print(f"test accuracy {acc:.4f}", flush=True)
