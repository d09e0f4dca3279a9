"""The first command a migrated v1 project's report gives runs here: each corpus project is migrated
with `--fix` (a file:// mirror of Debian's Fashion-MNIST standing in for the MNIST URLs), and the
local smoke command MIGRATION.md lists for its experiment is run exactly as written, to completion,
with the model registered where the notebook registered one."""
from __future__ import annotations

import json
import re
import shlex
import pytest

from ..conftest import FASHION, ROOT, run_cli, run_trainkit

pytestmark = pytest.mark.integration

CORPUS = ROOT / "tests" / "fixtures" / "v1corpus"
MIRRORS = ["https://azureopendatasets.blob.core.windows.net/mnist/", "http://yann.lecun.com/exdb/mnist/"]
# experiment -> the model its notebook registers (None: it registers none), one per kind of project
SMOKES = {
    "digits-tf-dnn": "tf-dnn-digits",              # tf.Module DNN, helper module copied by shutil.copy, Keras 2 env
    "keras-mlp-mnist": None,                       # standalone Keras 2 written by %%writefile, np.float fixed
    "subclassed-local": None,                      # _set_inputs: the Keras 2 environment; ds.download()'s folder
    "tf-hvd-estimator": None,                      # the TensorFlow estimator with Mpi: Horovod, 2 nodes x 2 here
    "mnist-multiworker": None,                     # TensorflowConfiguration: MultiWorkerMirrored, 2 workers
}   # the other experiments' smoke commands ran too when this was written (docs/guides/migrate.md); CI runs these


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    dest = tmp_path_factory.mktemp("smoke") / "project"
    args = ["migrate", str(CORPUS), "--to", str(dest), "--fix"]
    for url in MIRRORS:
        args += ["--mirror", f"{url}=file://{FASHION}/"]
    res = run_cli(args, timeout=600)
    assert res.returncode == 0, res.stdout + res.stderr
    ws = tmp_path_factory.mktemp("smoke-ws")
    return dest, (dest / "MIGRATION.md").read_text(), ws


def smoke_command(report: str, experiment: str) -> list[str]:
    section = report.split("**1. On this machine first")[1].split("**2.")[0]
    found = re.search(rf"`trainkit train (\+experiment={re.escape(experiment)} [^`]*)`", section)
    assert found, f"no smoke command for {experiment} in:\n{section}"
    return shlex.split(found.group(1))


@pytest.mark.parametrize("experiment", list(SMOKES))
def test_the_reports_smoke_command_runs_to_completion(project, experiment):
    dest, report, ws = project
    args = smoke_command(report, experiment)
    assert "compute=local" in args
    proc = run_trainkit(args, cwd=dest, env={"TRAINKIT_WORKSPACE": str(ws)}, timeout=1200)
    tail = proc.stdout[-4000:] + proc.stderr[-4000:]
    assert proc.returncode == 0, tail
    run_id = re.search(r"run (\S+) completed", proc.stdout).group(1)
    shown = json.loads(run_cli(["runs", "show", run_id, "--json"], env={"TRAINKIT_WORKSPACE": str(ws)}).stdout)
    assert shown["status"] == "completed" and shown["metrics"], shown
    model = SMOKES[experiment]
    if model:
        entry = json.loads(run_cli(["models", "show", model, "--json"], env={"TRAINKIT_WORKSPACE": str(ws)}).stdout)
        assert entry["run_id"] == run_id and entry["onnx"]["status"] == "ok", entry
