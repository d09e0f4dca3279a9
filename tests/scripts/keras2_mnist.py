"""A Keras 2-era training script, written the way Azure ML SDK v1's TensorFlow 2 samples were, and
run unchanged in trainkit's Keras 2 environment: argparse with --data-folder (the mounted dataset),
the MNIST-format IDX .gz files read from it, `import keras` meaning Keras 2, `RMSprop(lr=...)`,
`Run.get_context()` for metrics. By --save:
  saved_model  a subclassed tf.keras.Model, `model._set_inputs(X)`, then
               tf.saved_model.save(model, './outputs/model/')
  h5           a Sequential model, model.save('./outputs/model/model.h5')
  json         a Sequential model, model.to_json() to ./outputs/model/model.json and
               model.save_weights('./outputs/model/model.h5')"""
import argparse
import gzip
import os

import numpy as np
import tensorflow as tf
from tensorflow.keras.optimizers import RMSprop

import keras
from keras.layers import Dense
from azureml.core.run import Run

parser = argparse.ArgumentParser()
parser.add_argument("--data-folder", type=str, dest="data_folder", help="data folder mounting point")
parser.add_argument("--batch-size", type=int, dest="batch_size", default=50)
parser.add_argument("--first-layer-neurons", type=int, dest="n_hidden_1", default=100)
parser.add_argument("--learning-rate", type=float, dest="learning_rate", default=0.001)
parser.add_argument("--epochs", type=int, default=1)
parser.add_argument("--limit", type=int, default=None, help="use only the first N training images")
parser.add_argument("--save", choices=["saved_model", "h5", "json"], default="saved_model")
args = parser.parse_args()


def read_idx(name, offset):
    with gzip.open(os.path.join(args.data_folder, name)) as f:
        return np.frombuffer(f.read(), np.uint8, offset=offset)


X_train = read_idx("train-images-idx3-ubyte.gz", 16).reshape(-1, 784)[:args.limit] / 255.0
y_train = read_idx("train-labels-idx1-ubyte.gz", 8)[:args.limit].astype(np.int32)
X_test = read_idx("t10k-images-idx3-ubyte.gz", 16).reshape(-1, 784) / 255.0
y_test = read_idx("t10k-labels-idx1-ubyte.gz", 8).astype(np.int32)
print(f"Keras {keras.__version__}, tf.keras from {tf.keras.layers.Dense.__module__.split('.')[0]}; "
      f"{len(X_train)} training images", flush=True)

run = Run.get_context()


class MnistNet(tf.keras.Model):
    def __init__(self, n_hidden_1, n_outputs=10):
        super().__init__()
        self.hidden = Dense(n_hidden_1, activation="relu")
        self.out = Dense(n_outputs, activation="softmax")

    def call(self, x):
        return self.out(self.hidden(x))


if args.save == "saved_model":
    model = MnistNet(args.n_hidden_1)
else:
    model = keras.models.Sequential([Dense(args.n_hidden_1, activation="relu", input_shape=(784,)),
                                     Dense(10, activation="softmax")])
optimizer = RMSprop(lr=args.learning_rate)
model.compile(loss="sparse_categorical_crossentropy", optimizer=optimizer, metrics=["accuracy"])
model.fit(X_train, y_train, batch_size=args.batch_size, epochs=args.epochs, verbose=2)
print(f"optimizer learning rate: {float(keras.backend.get_value(optimizer.learning_rate)):g}", flush=True)

loss, accuracy = model.evaluate(X_test, y_test, verbose=0)
run.log("test_loss", loss)
run.log("test_accuracy", accuracy)

os.makedirs("./outputs/model", exist_ok=True)
if args.save == "saved_model":
    model._set_inputs(X_train)
    tf.saved_model.save(model, "./outputs/model/")
elif args.save == "h5":
    model.save("./outputs/model/model.h5")
else:
    with open("./outputs/model/model.json", "w") as f:
        f.write(model.to_json())
    model.save_weights("./outputs/model/model.h5")
print(f"test accuracy {accuracy:.4f}; model saved ({args.save})", flush=True)
