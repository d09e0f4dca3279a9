"""A trainkit worker's two ends: it imports TensorFlow without the packages Keras would load at
start-up for nothing (scikit-learn, pandas; they still import normally afterwards), and it leaves
without the interpreter's teardown but with what a normal exit keeps."""
from __future__ import annotations

import json
import os
import subprocess
import sys

from ..conftest import ROOT

PROBE = """
import json, sys
{before}
from trainkit.tfquiet import import_tensorflow
tf = import_tensorflow()
import keras.src.wrappers.fixes as fixes, keras.src.trainers.data_adapters.array_slicing as slicing
loaded = {{n: n in sys.modules for n in ("tensorflow", "keras", "sklearn", "pandas")}}
keras_sees = {{"sklearn": fixes.sklearn is not None, "pandas": slicing.pandas is not None}}
import sklearn.datasets, pandas
later = pandas.DataFrame(sklearn.datasets.load_iris().data).shape
print(json.dumps({{"loaded": loaded, "keras_sees": keras_sees, "later": later}}))
"""


def probe(before: str = "", **env: str) -> dict:
    res = subprocess.run([sys.executable, "-c", PROBE.format(before=before)], cwd=ROOT, capture_output=True,
                         text=True, timeout=180, env={**os.environ, **env})
    assert res.returncode == 0, res.stderr[-3000:]
    assert "oneDNN custom operations" not in res.stderr and "absl::InitializeLog" not in res.stderr, res.stderr
    return json.loads(res.stdout.splitlines()[-1])


def test_tensorflow_loads_without_sklearn_and_pandas_which_import_normally_afterwards():
    out = probe()
    assert out["loaded"] == {"tensorflow": True, "keras": True, "sklearn": False, "pandas": False}
    assert out["keras_sees"] == {"sklearn": False, "pandas": False}
    assert out["later"] == [150, 4]             # imported after: the real packages, working


def test_a_process_that_imported_them_first_keeps_them_for_keras():
    out = probe("import sklearn, pandas")
    assert out["keras_sees"] == {"sklearn": True, "pandas": True}


def test_an_empty_hide_list_lets_keras_load_them_itself():
    out = probe(TRAINKIT_HIDE_FROM_KERAS="")
    assert out["keras_sees"] == {"sklearn": True, "pandas": True}


LEAVE = """
import atexit, sys, threading, time
from trainkit.worker.recipe import leave
out = sys.argv[1]
f = open(out + ".unflushed", "w")
f.write("written, never flushed nor closed")
atexit.register(lambda: open(out + ".atexit", "w").write("ran"))
def late():
    time.sleep(0.3)
    open(out + ".thread", "w").write("joined")
threading.Thread(target=late).start()
print("stdout kept", end="")
leave(3)
"""


def test_the_worker_leaves_without_teardown_but_joins_threads_runs_atexit_and_flushes_files(tmp_path):
    """trainkit.worker ends with os._exit (no interpreter teardown, ~1 s less per TensorFlow process),
    keeping what a normal exit does that matters."""
    out = str(tmp_path / "probe")
    res = subprocess.run([sys.executable, "-c", LEAVE, out], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert res.returncode == 3, res.stderr
    assert res.stdout == "stdout kept"
    assert open(out + ".unflushed").read() == "written, never flushed nor closed"
    assert open(out + ".atexit").read() == "ran" and open(out + ".thread").read() == "joined"
