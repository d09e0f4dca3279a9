"""environment.keras "2": Keras 2-era training scripts, unchanged, on TensorFlow 2.21.

The environment is built with `tf-keras` (TensorFlow's Keras 2, pinned to TensorFlow's major.minor);
the script runs with TF_USE_LEGACY_KERAS=1 (`tf.keras` is tf_keras) and with `pythonpath/` first on
its PYTHONPATH, whose sitecustomize makes `import keras` tf_keras too and patches what Keras 2-era
scripts hit in tf_keras 2.21 (see pythonpath/_trainkit_keras2.py). trainkit's own worker process keeps
Keras 3; what the script saved in Keras 2 formats is turned into a SavedModel by `convert`, run in a
child process of the script's environment. Nothing here imports TensorFlow."""
from __future__ import annotations

import os
from pathlib import Path

PATH = Path(__file__).resolve().parent / "pythonpath"   # first on the script's PYTHONPATH
LEGACY_ENV = {"TF_USE_LEGACY_KERAS": "1"}               # tf.keras is tf_keras (TensorFlow >= 2.16)
MAJORS = ("2", "3")


def major(value) -> str | None:
    """environment.keras's major version ("2" of "2", "2.21"; None for null)."""
    return None if value in (None, "") else str(value).split(".")[0]


def is_keras2(env_cfg: dict) -> bool:
    """Whether this environment config asks for Keras 2 (environment.keras "2")."""
    return major(env_cfg.get("keras")) == "2"


def requirement(tensorflow_version: str) -> str:
    """tf-keras for this TensorFlow: the same major.minor (tf-keras 2.21.x goes with TensorFlow 2.21.x)."""
    major_, minor = tensorflow_version.split(".")[:2]
    return f"tf-keras~={major_}.{minor}.0"


def wheel_glob(req: str) -> str:
    """The file names of the wheels `req` (what `requirement` returns) accepts: what scripts/setup.sh caches."""
    major_, minor = req.split("~=")[1].split(".")[:2]
    return f"tf_keras-{major_}.{minor}.*-py3-none-any.whl"


def script_env(env: dict) -> dict:
    """A script process's variables for Keras 2: TF_USE_LEGACY_KERAS=1 and the shim first on PYTHONPATH."""
    path = os.pathsep.join(filter(None, [str(PATH), env.get("PYTHONPATH")]))
    return {**env, **LEGACY_ENV, "PYTHONPATH": path}

__all__ = ['LEGACY_ENV', 'MAJORS', 'PATH', 'is_keras2', 'major', 'requirement', 'script_env', 'wheel_glob']
