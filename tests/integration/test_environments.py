"""Environments built with uv, not just checked: the first run builds, the next reuses, a changed
spec builds anew, a bad requirement is refused before anything exists (local runs; Slurm and ssh
in their own test files)."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from ..conftest import FASHION, ROOT, run_cli, run_trainkit

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(not FASHION.exists(), reason="needs apt-get install dataset-fashion-mnist")]
TABULATE = ["+debug=smoke", "entry=script", f"entry.source_dir={ROOT / 'tests' / 'scripts'}",
            "entry.script=uses_tabulate.py", "entry.model_path=null", "run.resume=never"]


def run_dir(stdout: str) -> Path:
    return Path(re.search(r"run \S+ completed: .* -> (\S+)", stdout).group(1))


def test_an_environment_is_built_once_reused_recorded_and_changed_by_its_spec(workspace):
    first = run_trainkit([*TABULATE, 'environment.pip=["tabulate==0.9.0"]'])
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    assert re.search(r"environment \w+: built \(", first.stdout)
    env_dir = next((workspace / "environments").glob("*/ready.json")).parent
    assert f"imported from {env_dir}" in first.stdout                  # the worker ran the built interpreter
    second = run_trainkit([*TABULATE, 'environment.pip=["tabulate==0.9.0"]'])
    assert second.returncode == 0, second.stderr[-2000:]
    reused = re.search(r"environment (\w+): reused \(([\d.]+) s\)", second.stdout)
    assert reused and reused.group(1) == env_dir.name and float(reused.group(2)) < 1.0
    info = json.loads((run_dir(second.stdout) / "environment.json").read_text())["built_environment"]
    assert info["hash"] == env_dir.name and info["reused"] and "tabulate==0.9.0" in info["lock"]
    assert info["spec"]["requirements"] == ["tabulate==0.9.0"]
    changed = run_trainkit([*TABULATE, 'environment.pip=["tabulate==0.8.10"]'])
    assert changed.returncode == 0, changed.stderr[-2000:]
    assert "tabulate 0.8.10 imported" in changed.stdout
    listed = json.loads(run_cli(["environments", "list", "--json"]).stdout)
    assert len(listed) == 2 and env_dir.name in {e["hash"] for e in listed}   # the old one is left


def test_a_bad_requirement_exits_2_naming_it_before_anything_exists(workspace):
    proc = run_trainkit([*TABULATE, 'environment.pip=["tabulate==0.9.0","no-such-package-trainkit==9.9"]'])
    assert proc.returncode == 2, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "environment.pip: building requirement(s) 'no-such-package-trainkit==9.9' failed" in proc.stderr
    assert not (workspace / "experiments").exists()
    assert not list((workspace / "environments").glob("*/ready.json"))
