"""A Horovod training script written the way Horovod's TensorFlow 2 docs show it: hvd.init(), a
DistributedGradientTape that averages gradients, variables broadcast from rank 0 after the first
step, data sharded by rank, checkpoints written by rank 0 only."""
import argparse
import gzip
import os

import numpy as np
import tensorflow as tf
import horovod.tensorflow as hvd

parser = argparse.ArgumentParser()
parser.add_argument("--data-folder", required=True)
parser.add_argument("--steps", type=int, default=60)
args = parser.parse_args()

hvd.init()
print(f"horovod rank {hvd.rank()} of size {hvd.size()} (local rank {hvd.local_rank()})", flush=True)

with gzip.open(os.path.join(args.data_folder, "train-images-idx3-ubyte.gz")) as f:
    x = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 784)[:6000] / 255.0
with gzip.open(os.path.join(args.data_folder, "train-labels-idx1-ubyte.gz")) as f:
    y = np.frombuffer(f.read(), np.uint8, offset=8)[:6000]
data = tf.data.Dataset.from_tensor_slices((x.astype("float32"), y.astype("int64")))
data = data.shard(hvd.size(), hvd.rank()).repeat().shuffle(1000, seed=1).batch(64)

w = tf.Variable(tf.random.stateless_normal([784, 10], seed=[1, 2]) * 0.01)
b = tf.Variable(tf.zeros([10]))
opt = tf.optimizers.SGD(0.1 * hvd.size())


@tf.function
def step(images, labels, first_batch):
    with tf.GradientTape() as tape:
        logits = images @ w + b
        loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels, logits))
    tape = hvd.DistributedGradientTape(tape)
    grads = tape.gradient(loss, [w, b])
    opt.apply_gradients(zip(grads, [w, b]))
    if first_batch:
        hvd.broadcast_variables([w, b], root_rank=0)
    return loss


checkpoint = tf.train.Checkpoint(w=w, b=b)
for i, (images, labels) in enumerate(data.take(args.steps)):
    loss = step(images, labels, i == 0)
    if i % 20 == 0 and hvd.rank() == 0:
        print(f"step {i} loss {float(loss):.4f}", flush=True)
if hvd.rank() == 0:
    checkpoint.save(os.path.join("outputs", "checkpoint"))
    from trainkit.run import get_context

    get_context().log("final_loss", float(loss))
print(f"rank {hvd.rank()} done, size {hvd.size()}", flush=True)
