"""A TF_CONFIG script: MultiWorkerMirroredStrategy with a custom training loop (the working way
under Keras 3), the cluster read from TF_CONFIG as TensorFlow's multi-worker tutorial does; the
chief saves the model to ./outputs, other workers to a temporary directory."""
import argparse
import gzip
import json
import os
import tempfile

import numpy as np
import tensorflow as tf
import keras

parser = argparse.ArgumentParser()
parser.add_argument("--data-folder", required=True)
parser.add_argument("--epochs", type=int, default=2)
parser.add_argument("--global-batch", type=int, default=64)
args = parser.parse_args()

tf_config = json.loads(os.environ["TF_CONFIG"])
print(f"TF_CONFIG task {tf_config['task']} of cluster {tf_config['cluster']}", flush=True)
strategy = tf.distribute.MultiWorkerMirroredStrategy()
is_chief = tf_config["task"]["index"] == 0

with gzip.open(os.path.join(args.data_folder, "train-images-idx3-ubyte.gz")) as f:
    x = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 28, 28)[:4000].astype("float32")
with gzip.open(os.path.join(args.data_folder, "train-labels-idx1-ubyte.gz")) as f:
    y = np.frombuffer(f.read(), np.uint8, offset=8)[:4000].astype("int32")


def dataset_fn(ctx):
    ds = tf.data.Dataset.from_tensor_slices((x, y)).shard(ctx.num_input_pipelines, ctx.input_pipeline_id)
    return ds.shuffle(4000, seed=1).batch(ctx.get_per_replica_batch_size(args.global_batch), drop_remainder=True)


with strategy.scope():
    model = keras.Sequential([keras.Input((28, 28)), keras.layers.Rescaling(1 / 255), keras.layers.Flatten(),
                              keras.layers.Dense(128, activation="relu"), keras.layers.Dense(10, activation="softmax")])
    opt = keras.optimizers.Adam(0.001)
    opt.build(model.trainable_variables)


@tf.function
def train_step(it):
    def step(xb, yb):
        with tf.GradientTape() as tape:
            per_example = keras.losses.sparse_categorical_crossentropy(yb, model(xb, training=True))
            loss = tf.nn.compute_average_loss(per_example, global_batch_size=args.global_batch)
        grads = tape.gradient(loss, model.trainable_variables)
        opt.apply_gradients(zip(grads, model.trainable_variables))
        return loss
    return strategy.reduce("SUM", strategy.run(step, args=next(it)), axis=None)


data = strategy.distribute_datasets_from_function(dataset_fn)
for epoch in range(args.epochs):
    it, total, n = iter(data), 0.0, 0
    for _ in range(4000 // args.global_batch):
        total += float(train_step(it))
        n += 1
    print(f"epoch {epoch + 1} loss {total / n:.4f}", flush=True)
    if is_chief:
        from trainkit.run import get_context

        get_context().log("loss", total / n, step=epoch + 1)
target = "outputs" if is_chief else tempfile.mkdtemp()
model.save(os.path.join(target, "model.keras"))
