"""A training script that logs with MLflow, as Azure ML's later v1 samples do: mlflow.tensorflow.autolog(),
a parameter, a tag, a metric per epoch, a dict artifact. MNIST-format IDX files from --data-folder, or
tf.keras.datasets.<loader>.load_data() with --keras-loader. With --horovod it is one rank of a Horovod
job (hvd.init(), its shard of the data, weights averaged across ranks after each epoch).
It knows nothing of trainkit."""
import argparse
import gzip
import os

import mlflow
import mlflow.tensorflow
import numpy as np
import tensorflow as tf

parser = argparse.ArgumentParser()
parser.add_argument("--data-folder")
parser.add_argument("--keras-loader", help="e.g. mnist: tf.keras.datasets.mnist.load_data()")
parser.add_argument("--epochs", type=int, default=2)
parser.add_argument("--limit", type=int, default=3000)
parser.add_argument("--horovod", action="store_true")
args = parser.parse_args()

rank, size = 0, 1
if args.horovod:
    import horovod.tensorflow as hvd

    hvd.init()
    rank, size = hvd.rank(), hvd.size()


def idx(name, offset):
    with gzip.open(os.path.join(args.data_folder, name)) as f:
        return np.frombuffer(f.read(), np.uint8, offset=offset)


if args.keras_loader:
    (x_train, y_train), (x_test, y_test) = getattr(tf.keras.datasets, args.keras_loader).load_data()
    print(f"load_data: x_train {x_train.dtype} {x_train.shape}, y_train {y_train.dtype} {y_train.shape}, "
          f"x_test {x_test.shape}, y_test {y_test.shape}", flush=True)
else:
    x_train, y_train = idx("train-images-idx3-ubyte.gz", 16).reshape(-1, 28, 28), idx("train-labels-idx1-ubyte.gz", 8)
    x_test, y_test = idx("t10k-images-idx3-ubyte.gz", 16).reshape(-1, 28, 28), idx("t10k-labels-idx1-ubyte.gz", 8)
x_train, y_train = x_train[:args.limit][rank::size] / 255.0, y_train[:args.limit][rank::size]
x_test, y_test = x_test[:1000] / 255.0, y_test[:1000]


class AverageWeights(tf.keras.callbacks.Callback):
    """Horovod: every rank starts from rank 0's weights and ends each epoch with the ranks' average."""

    def on_train_begin(self, logs=None):
        self.model.set_weights([hvd.broadcast(tf.constant(w), root_rank=0).numpy() for w in self.model.get_weights()])

    def on_epoch_end(self, epoch, logs=None):
        self.model.set_weights([hvd.allreduce(tf.constant(w), op=hvd.Average).numpy() for w in self.model.get_weights()])


class DoubleLoss(tf.keras.callbacks.Callback):
    """A custom metric per epoch, logged with its step."""

    def on_epoch_end(self, epoch, logs=None):
        mlflow.log_metric("double_loss", 2 * logs["loss"], step=epoch)


mlflow.tensorflow.autolog()
tf.keras.utils.set_random_seed(0)
model = tf.keras.Sequential([tf.keras.Input((28, 28)), tf.keras.layers.Flatten(),
                             tf.keras.layers.Dense(64, activation="relu"), tf.keras.layers.Dense(10, activation="softmax")])
model.compile(tf.keras.optimizers.Adam(0.002), "sparse_categorical_crossentropy", metrics=["accuracy"])
with mlflow.start_run() as run:
    mlflow.log_param("hidden_units", 64)
    mlflow.set_tag("script", "mlflow_keras")
    model.fit(x_train, y_train, epochs=args.epochs, batch_size=64, verbose=2,
              callbacks=[DoubleLoss()] + ([AverageWeights()] if args.horovod else []))
    loss, acc = model.evaluate(x_test, y_test, verbose=0)
    mlflow.log_metric("test_accuracy", acc)
    mlflow.log_dict({"classes": 10, "rank": rank}, "meta/classes.json")
    print(f"rank {rank}: mlflow run {run.info.run_id} test accuracy {acc:.4f}", flush=True)
