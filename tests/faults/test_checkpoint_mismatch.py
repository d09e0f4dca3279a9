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


BUILDER = '''
def build(input_shape, num_classes, hidden=(16,), activation="relu", dropout=0.0, seed=0):
    import keras

    width = hidden[0]
    inputs = keras.Input(shape=tuple(input_shape), name="image")
    x = keras.layers.Dense(width, activation=activation)(keras.layers.Flatten()(keras.layers.Rescaling(1 / 255)(inputs)))
    {extra}
    return keras.Model(inputs, keras.layers.Dense(num_classes, activation="softmax", name="probabilities")(x))
'''


@pytest.mark.integration
def test_resuming_after_the_model_code_changed_exits_2_without_a_traceback(tmp_path):
    """Issue 23 item 14, as a user meets it: a run's checkpoint, then the project's model code gains
    a layer, then `run.resume=<id>`: `python -m trainkit` exits 2 naming the checkpoint and the
    variable counts, with no traceback, and does not promise a resume that would not happen."""
    import os
    import re
    import subprocess
    import sys

    from ..conftest import FASHION, ROOT

    if not FASHION.exists():
        pytest.skip("needs apt-get install dataset-fashion-mnist")
    proj = tmp_path / "proj"
    proj.mkdir()
    (proj / "zoo.py").write_text(BUILDER.format(extra=""))
    env = {**os.environ, "TRAINKIT_WORKSPACE": str(tmp_path / "ws"), "PYTHONPATH": str(ROOT)}
    args = [sys.executable, "-m", "trainkit", "+debug=smoke", "model._target_=zoo.build", "run.experiment=ckmm",
            "registry.enabled=false", "export.onnx.enabled=false"]
    first = subprocess.run(args, cwd=proj, env=env, capture_output=True, text=True, timeout=600)
    assert first.returncode == 0, first.stdout[-2000:] + first.stderr[-2000:]
    run_id = re.search(r"run (\S+) completed", first.stdout).group(1)
    (proj / "zoo.py").write_text(BUILDER.format(extra="x = keras.layers.Dense(width, activation=activation)(x)"))
    again = subprocess.run([*args, f"run.resume={run_id}"], cwd=proj, env=env, capture_output=True, text=True,
                           timeout=600)
    out = again.stdout + again.stderr
    assert again.returncode == 2, out[-3000:]
    assert "Traceback" not in out, out[-3000:]
    assert re.search(r"checkpoints/epoch-0001\.npz: expected \d+ variables, checkpoint has \d+", out), out[-2000:]
    assert "run.resume=never" in out and "rerun the same command to resume" not in out
