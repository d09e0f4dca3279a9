"""Issue 15, item 13: resuming from a checkpoint of a different model is the user's to fix: a typed
TrainkitError (printed without a traceback, exit code 2) naming the checkpoint file, both variable
counts and how to start afresh."""
from __future__ import annotations

import numpy as np
import pytest

from trainkit.errors import TrainkitError
from trainkit.train.checkpoint import Checkpointer


class _Var:
    """A stand-in for a tf.Variable: numpy() and assign()."""

    def __init__(self, value):
        self.value = np.array(value, dtype=np.float32)

    def numpy(self):
        return self.value

    def assign(self, v):
        self.value = np.array(v)


def test_a_checkpoint_of_another_model_is_a_checkpoint_error(tmp_path):
    from trainkit.errors import CheckpointError

    ck = Checkpointer(tmp_path / "ck")
    ck.save(3, [_Var([1.0, 2.0]), _Var(3.0)], [{"epoch": e} for e in (1, 2, 3)])
    fresh = [_Var(0.0), _Var(0.0), _Var(0.0)]
    with pytest.raises(TrainkitError) as info:
        ck.restore(fresh)
    err = info.value
    assert isinstance(err, CheckpointError) and not isinstance(err, ValueError) and err.exit_code == 2
    text = str(err)
    assert str(tmp_path / "ck" / "epoch-0003.npz") in text
    assert "expected 3 variables, checkpoint has 2" in text and "run.resume=never" in text
    assert [float(v.value) for v in fresh] == [0.0, 0.0, 0.0]          # nothing half-restored
