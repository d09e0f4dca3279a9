"""Keras 3 random draws named Philox explicitly, for XLA.

Keras 3's TensorFlow backend leaves the algorithm of its stateless draws (dropout masks, noise,
augmentation) to TensorFlow ('auto_select'). The numbers are Philox's either way, but inside an
XLA computation on CPU the auto-selected path is about 30x slower than the same draws with
alg='philox' (measured: 5.9 ms against 0.2 ms for 100 draws of 64x300). trainkit compiles its steps
with XLA, so a 784-300-100 DNN with Dropout(0.2) took 7.9 s per epoch instead of 0.9 s. Its
workers therefore name the algorithm: the same draws (tests/unit/test_task.py compares them), only
faster. Only trainkit's own loop does this; a script run with entry=script keeps Keras' code.
"""
from __future__ import annotations


def use_philox() -> None:
    """Replace the Keras TensorFlow backend's uniform, normal, truncated_normal and dropout by
    the same functions with alg='philox' (idempotent)."""
    import tensorflow as tf
    from keras.src.backend.tensorflow import random as kr

    if getattr(kr, "_trainkit_philox", False):
        return

    def seed_of(seed):
        return kr._cast_seed(kr.draw_seed(seed))

    def uniform(shape, minval=0.0, maxval=1.0, dtype=None, seed=None):
        dtype = dtype or kr.floatx()
        return tf.random.stateless_uniform(shape, seed_of(seed), tf.cast(minval, dtype), tf.cast(maxval, dtype),
                                           dtype=dtype, alg="philox")

    def normal(shape, mean=0.0, stddev=1.0, dtype=None, seed=None):
        return tf.random.stateless_normal(shape, seed_of(seed), mean, stddev, dtype or kr.floatx(), alg="philox")

    def truncated_normal(shape, mean=0.0, stddev=1.0, dtype=None, seed=None):
        return tf.random.stateless_truncated_normal(shape, seed_of(seed), mean, stddev, dtype or kr.floatx(),
                                                    alg="philox")

    keras_dropout = kr.dropout

    def dropout(inputs, rate, noise_shape=None, seed=None):
        if rate in (0.0, 1.0):
            return keras_dropout(inputs, rate, noise_shape, seed)
        return tf.nn.experimental.stateless_dropout(inputs, rate=rate, seed=seed_of(seed), rng_alg="philox",
                                                    noise_shape=kr._get_concrete_noise_shape(inputs, noise_shape))

    kr._trainkit_keras = {"uniform": kr.uniform, "normal": kr.normal, "truncated_normal": kr.truncated_normal,
                          "dropout": keras_dropout}   # Keras' own, for the test that compares draws
    kr.uniform, kr.normal, kr.truncated_normal, kr.dropout = uniform, normal, truncated_normal, dropout
    kr._trainkit_philox = True
