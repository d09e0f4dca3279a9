"""An Azure ML SDK v1-style training script: a small Fashion-MNIST classifier, saved as a SavedModel
folder in ./outputs/model and registered with `run.register_model(model_name, model_path=...)`, as
v1 scripts did before `Model.deploy` (tests/integration/test_azureml_deploy.py)."""
import argparse
import gzip
import os

import numpy as np
import tensorflow as tf
from azureml.core import Run


def load(folder, images, labels, limit=None):
    with gzip.open(os.path.join(folder, images)) as f:
        x = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 784)[:limit] / 255.0
    with gzip.open(os.path.join(folder, labels)) as f:
        y = np.frombuffer(f.read(), np.uint8, offset=8)[:limit]
    return x.astype("float32"), y.astype("int32")


parser = argparse.ArgumentParser()
parser.add_argument("--data-folder", required=True)
parser.add_argument("--limit", type=int, default=3000)
parser.add_argument("--model-name", default="fashion-savedmodel")
args = parser.parse_args()

run = Run.get_context()
x, y = load(args.data_folder, "train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", args.limit)
x_test, y_test = load(args.data_folder, "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz", 1000)
tf.keras.utils.set_random_seed(0)
model = tf.keras.Sequential([tf.keras.Input((784,)), tf.keras.layers.Dense(32, activation="relu"),
                             tf.keras.layers.Dense(10, activation="softmax")])
model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
model.fit(x, y, epochs=2, batch_size=64, verbose=2)
loss, accuracy = model.evaluate(x_test, y_test, verbose=0)
run.log("test_accuracy", float(accuracy))
os.makedirs("outputs", exist_ok=True)
model.export("outputs/model")
run.register_model(model_name=args.model_name, model_path="outputs/model", tags={"data": "fashion-mnist"})
