"""entry.azureml_compat: an Azure ML SDK v1 script's `from azureml.core import Run` gets trainkit's
run. Here, outside a trainkit run (Azure's offline run) and never over a real azureml package."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from types import SimpleNamespace

import pytest

from trainkit.shimpath import PATH as SHIM

SCRIPT = """
from azureml.core import Run
from azureml.core.run import Run as Same
assert Run is Same
run = Run.get_context()
print("ID", run.id, run.experiment.name)
run.log("loss", 0.5); run.log("loss", 0.25)
run.log_list("acc", [0.1, 0.2, 0.3])
run.log_row("confusion", tp=3, fp=1)
run.log_table("pr", {"precision": [0.9, 0.8], "recall": [0.5, 0.6]})
run.tag("team", "x"); run.set_tags({"stage": "dev"})
run.upload_file("outputs/notes.txt", __file__)
print("TAGS", sorted(run.get_tags().items()))
print("METRICS", run.get_metrics())
try:
    run.upload_file("../escape.txt", __file__)
except ValueError as e:
    print("REFUSED", e)
"""


def test_outside_trainkit_the_script_gets_an_offline_run(tmp_path):
    script = tmp_path / "train.py"
    script.write_text(SCRIPT)
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRAINKIT_")}
    res = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True,
                         env={**env, "PYTHONPATH": os.pathsep.join([str(SHIM), env.get("PYTHONPATH", "")])})
    assert res.returncode == 0, res.stderr
    out = dict(line.split(" ", 1) for line in res.stdout.splitlines())
    assert out["ID"].startswith("OfflineRun_") and out["ID"].endswith("offline")
    assert out["TAGS"] == "[('stage', 'dev'), ('team', 'x')]"
    metrics = eval(out["METRICS"])   # noqa: S307 - the script's own repr of a dict of numbers
    assert metrics["loss"] == [0.5, 0.25] and metrics["acc"] == [0.1, 0.2, 0.3]
    assert metrics["confusion/tp"] == 3 and metrics["pr/precision"] == [0.9, 0.8]
    assert "expected a name inside the run" in out["REFUSED"]
    [run_dir] = (tmp_path / ".trainkit" / "runs").iterdir()
    assert (run_dir / "outputs" / "notes.txt").read_text() == SCRIPT
    rows = [json.loads(ln) for ln in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows if "pr/recall" in r] == [0, 1]


def test_a_real_azureml_package_is_never_shadowed(tmp_path, monkeypatch):
    from trainkit.errors import ConfigError
    from trainkit.worker.script import azureml_shim

    fake = tmp_path / "site" / "azureml"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("")
    spec = SimpleNamespace(cfg=SimpleNamespace(entry=SimpleNamespace(python=None)))
    assert azureml_shim(spec) == SHIM
    monkeypatch.setenv("PYTHONPATH", str(tmp_path / "site"))
    with pytest.raises(ConfigError, match="a real Azure ML SDK is installed: trainkit does not shadow it") as e:
        azureml_shim(spec)
    assert e.value.exit_code == 2 and str(fake) in str(e.value)
