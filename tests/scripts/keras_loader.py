"""Loads MNIST as Keras 2-era scripts do (`from keras.datasets import mnist`) and prints what it got."""
import keras
from keras.datasets import mnist

(x_train, y_train), (x_test, y_test) = mnist.load_data()
print(f"load_data: keras {keras.__version__} x_train {x_train.dtype} {x_train.shape}, y_train {y_train.dtype} "
      f"{y_train.shape}, x_test {x_test.shape}, y_test {y_test.shape}", flush=True)
