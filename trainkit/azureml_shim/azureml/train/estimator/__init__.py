"""Azure ML SDK v1's generic `Estimator`: the TensorFlow estimator's behaviour (a script with its
parameters, packages and distribution) without a framework version of its own."""
from ..dnn import TensorFlow


class Estimator(TensorFlow):
    """`Estimator(source_directory, entry_script, script_params, compute_target, pip_packages, ...)`."""


__all__ = ["Estimator"]
