"""A rerun after a fix runs the fix: a script run that failed is not resumed with its old code
snapshot once the script changed (a new run starts and says why), and `run.resume=ID` resumes it
with the current code, keeping its outputs and recording the change. Real processes, a tiny real
IDX dataset, a script without TensorFlow, set up as `trainkit migrate` writes a project."""
from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from ..conftest import ROOT, run_cli, run_trainkit, write_idx_set

pytestmark = pytest.mark.integration

EXPERIMENT = """\
# @package _global_
defaults: [{override /dataset: tiny}, {override /entry: script}, _self_]
run: {experiment: fixme}
entry: {source_dir: src, script: fix_me.py, arguments: [--data-folder, '${dataset.path}', --epochs, '${params.epochs}'],
        model_path: null}
params: {epochs: 3}
"""

DATASET = """\
defaults: [base_dataset, _self_]
name: tiny
num_classes: 10
sources: ['file://{data}/']
files:
  - {{role: train_images, name: train-images-idx3-ubyte.gz, sha256: null}}
  - {{role: train_labels, name: train-labels-idx1-ubyte.gz, sha256: null}}
  - {{role: test_images, name: t10k-images-idx3-ubyte.gz, sha256: null}}
  - {{role: test_labels, name: t10k-labels-idx1-ubyte.gz, sha256: null}}
"""


@pytest.fixture
def project(tmp_path, workspace) -> Path:
    proj = tmp_path / "proj"
    write_idx_set(tmp_path / "data", n_train=50, n_test=20)
    (proj / "conf" / "experiment").mkdir(parents=True)
    (proj / "conf" / "dataset").mkdir()
    (proj / "conf" / "experiment" / "fixme.yaml").write_text(EXPERIMENT)
    (proj / "conf" / "dataset" / "tiny.yaml").write_text(DATASET.format(data=tmp_path / "data"))
    (proj / "src").mkdir()
    shutil.copy(ROOT / "tests" / "scripts" / "fix_me.py", proj / "src" / "fix_me.py")
    return proj


def fix(project: Path) -> None:
    script = project / "src" / "fix_me.py"
    script.write_text(script.read_text().replace("FIXED = False", "FIXED = True"))


def train(project: Path, *extra: str, code: int):
    proc = run_trainkit(["+experiment=fixme", *extra], cwd=project, timeout=300)
    assert proc.returncode == code, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc, re.search(r"run (\S+) (completed|failed)", proc.stdout).group(1)


def details(run_id: str) -> dict:
    return json.loads(run_cli(["runs", "show", run_id, "--json"]).stdout)


def attempts(run_id: str) -> list[str]:
    return (Path(details(run_id)["path"]) / "outputs" / "attempts.txt").read_text().splitlines()


def test_the_same_command_after_a_fix_starts_a_new_run_with_the_fixed_code(project):
    _, first = train(project, code=1)
    again, resumed = train(project, code=1)                    # nothing changed: resumed, as before
    assert resumed == first and f"resuming run {first}" in again.stdout
    assert attempts(first) == ["broken [1]", "broken [1]"]
    fix(project)
    rerun, second = train(project, code=0)
    assert second != first, rerun.stdout
    assert f"not resuming {first}: its code changed (fix_me.py); starting a new run" in rerun.stdout
    assert attempts(second) == ["fixed [1, 2, 3]"]
    assert "FIXED = True" in (Path(details(second)["path"]) / "code" / "fix_me.py").read_text()
    assert details(first)["status"] == "failed" and "FIXED = False" in \
        (Path(details(first)["path"]) / "code" / "fix_me.py").read_text()     # the old run is left as it was


def test_resuming_by_id_after_a_fix_runs_the_new_code_and_records_the_change(project):
    _, first = train(project, code=1)
    fix(project)
    (project / "src" / "helper.py").write_text("HELP = 1\n")
    proc, resumed = train(project, f"run.resume={first}", code=0)
    assert resumed == first
    assert f"run {first}: its code changed since its snapshot (fix_me.py, helper.py (new))" in proc.stdout
    assert attempts(first) == ["broken [1]", "fixed [1, 2, 3]"]    # the first attempt's outputs are kept
    d = details(first)
    [change] = d["code_changes"]
    assert change["files"] == ["fix_me.py", "helper.py (new)"] and change["from"] != change["to"]
    assert d["status_detail"]["code_hash"] == change["to"]
    assert (Path(d["path"]) / "code" / "helper.py").is_file()
    shown = run_cli(["runs", "show", first])
    assert re.search(r"^code +changed when resumed \S+ \S+: fix_me.py, helper.py \(new\)$", shown.stdout, re.M), \
        shown.stdout
