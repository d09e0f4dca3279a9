"""A TF2/Keras training script written the way Azure ML SDK v1's samples are: argparse with
--data-folder (the mounted FileDataset), Run.get_context() for metrics and tags, the model saved
as a TensorFlow SavedModel under ./outputs/model. With Horovod's environment (HOROVOD_SIZE > 1,
as MpiConfiguration launched it) it averages gradients with hvd, else it trains alone."""
import argparse
import gzip
import os

import numpy as np
import keras
import tensorflow as tf
from azureml.core import Run

parser = argparse.ArgumentParser()
parser.add_argument("--data-folder", type=str, dest="data_folder", help="data folder mounting point")
parser.add_argument("--batch-size", type=int, dest="batch_size", default=50)
parser.add_argument("--epochs", type=int, default=2)
parser.add_argument("--learning-rate", type=float, dest="learning_rate", default=0.001)
parser.add_argument("--limit", type=int, default=None)
args = parser.parse_args()

run = Run.get_context()
print(f"azureml.core.Run from {Run.__module__}: run {run.id} of experiment {run.experiment.name}", flush=True)


def load(prefix):
    with gzip.open(os.path.join(args.data_folder, f"{prefix}-images-idx3-ubyte.gz")) as f:
        x = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 28, 28).astype("float32") / 255.0
    with gzip.open(os.path.join(args.data_folder, f"{prefix}-labels-idx1-ubyte.gz")) as f:
        y = np.frombuffer(f.read(), np.uint8, offset=8).astype("int64")
    return x, y


X_train, y_train = load("train")
X_test, y_test = load("t10k")
X_train, y_train = X_train[:args.limit], y_train[:args.limit]

size, rank = 1, 0
if int(os.environ.get("HOROVOD_SIZE", "1")) > 1:
    import horovod.tensorflow as hvd

    hvd.init()
    size, rank = hvd.size(), hvd.rank()
    X_train, y_train = X_train[rank::size], y_train[rank::size]
print(f"rank {rank} of {size}: {len(X_train)} training images", flush=True)

keras.utils.set_random_seed(1)
model = keras.Sequential([keras.Input((28, 28)), keras.layers.Flatten(),
                          keras.layers.Dense(128, activation="relu"), keras.layers.Dense(10, activation="softmax")])
optimizer = keras.optimizers.Adam(args.learning_rate * size)
loss_fn = keras.losses.SparseCategoricalCrossentropy()


@tf.function
def train_step(x, y):
    with tf.GradientTape() as tape:
        loss = loss_fn(y, model(x, training=True))
    grads = tape.gradient(loss, model.trainable_variables)
    if size > 1:
        grads = hvd.grouped_allreduce(grads, op=hvd.Average)
    optimizer.apply_gradients(zip(grads, model.trainable_variables))
    return loss


steps = len(X_train) // args.batch_size
for epoch in range(args.epochs):
    order = np.random.default_rng(epoch).permutation(len(X_train))
    for i in range(steps):
        idx = order[i * args.batch_size:(i + 1) * args.batch_size]
        loss = train_step(X_train[idx], y_train[idx])
        if epoch == 0 and i == 0 and size > 1:
            hvd.broadcast_variables([v.value for v in model.variables], root_rank=0)
    acc = float(np.mean(model.predict(X_test, verbose=0).argmax(axis=1) == y_test))
    if rank == 0:
        print(f"epoch {epoch}: loss {float(loss):.4f} test accuracy {acc:.4f}", flush=True)
        run.log("loss", float(loss))
        run.log("accuracy", acc)

if rank == 0:
    run.log("final_accuracy", acc)
    run.tag("framework", "tf2")
    os.makedirs("./outputs", exist_ok=True)
    model.export("./outputs/model")   # a TensorFlow SavedModel, as the samples' ./outputs/model
