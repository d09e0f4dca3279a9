"""TensorFlow's start-up noise (absl's `InitializeLog` warning, oneDNN and CPU-feature lines, printed
by C++ straight to file descriptor 2, twice per import) is hidden unless asked for (`run.verbose`)."""
from __future__ import annotations

import os
import re
import sys
import tempfile

NOISE = re.compile(r"^(WARNING: All log messages before absl::InitializeLog\(\)|I0000 |W0000 |"
                   r"To enable the following instructions|E0000 .*(cuDNN|cuFFT|cuBLAS) factory)")


def import_tensorflow(verbose: bool = False):
    """`import tensorflow`, with what it prints to stderr filtered through NOISE."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if verbose or "tensorflow" in sys.modules:
        import tensorflow as tf

        return tf
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            import tensorflow as tf
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            kept = [ln for ln in captured.read().decode(errors="replace").splitlines(True) if not NOISE.match(ln)]
            sys.stderr.write("".join(kept))
            sys.stderr.flush()
    return tf
