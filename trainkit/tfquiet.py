"""TensorFlow's start-up in trainkit's processes: quiet and without packages nobody uses there.

- Its noise (absl's `InitializeLog` warning, oneDNN and CPU-feature lines, printed by C++ straight
  to file descriptor 2, twice per import) is hidden unless asked for (`run.verbose`).
- Keras imports scikit-learn and pandas at start-up whenever they are installed: its scikit-learn
  wrappers subclass `BaseEstimator`, and `fit` accepts DataFrames. trainkit's worker uses neither, and
  they cost 1.8-2.6 s of CPU per process on the 2-core machine (of 7.9-8.7 s, `scripts/bench_startup.py`).
  So they are hidden while TensorFlow and Keras load, unless the process imported them already.
  Afterwards they import as usual; only Keras's own wrappers (`keras.wrappers.SKLearn*`, `fit` on a
  DataFrame) see them missing in that process. `TRAINKIT_HIDE_FROM_KERAS` lists what is hidden
  (default "sklearn,pandas"; empty: nothing), e.g. `environment.env_vars={TRAINKIT_HIDE_FROM_KERAS: ""}`.
"""
from __future__ import annotations

import os
import re
import sys
import tempfile
from contextlib import contextmanager

HIDE_FROM_KERAS = "sklearn,pandas"

NOISE = re.compile(r"^(WARNING: All log messages before absl::InitializeLog\(\)|I0000 |W0000 |"
                   r"To enable the following instructions|E0000 .*(cuDNN|cuFFT|cuBLAS) factory)")


def import_tensorflow(verbose: bool = False):
    """`import tensorflow` (and Keras), with what it prints to stderr filtered through NOISE and
    the packages in $TRAINKIT_HIDE_FROM_KERAS hidden while they load."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if "tensorflow" in sys.modules:
        return sys.modules["tensorflow"]
    hide = tuple(n.strip() for n in os.environ.get("TRAINKIT_HIDE_FROM_KERAS", HIDE_FROM_KERAS).split(",") if n.strip())
    if verbose:
        return _load(hide)
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            tf = _load(hide)
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            kept = [ln for ln in captured.read().decode(errors="replace").splitlines(True) if not NOISE.match(ln)]
            sys.stderr.write("".join(kept))
            sys.stderr.flush()
    return tf


def _load(hide: tuple[str, ...]):
    with _hidden(hide):
        import tensorflow as tf
        import keras  # noqa: F401  (loads inside the hiding, whoever imports it next)
    return tf


@contextmanager
def _hidden(names: tuple[str, ...]):
    """`import name` fails with ImportError inside (a None in sys.modules), for the names this
    process has not imported yet; afterwards they import normally."""
    hidden = [n for n in names if n not in sys.modules]
    for n in hidden:
        sys.modules[n] = None
    try:
        yield
    finally:
        for n in hidden:
            if sys.modules.get(n, 0) is None:
                del sys.modules[n]
