"""`trainkit migrate` is a tool run on projects someone else wrote: what their notebooks say never
becomes live YAML (H1), --check never imports or runs their code, nothing is written outside --to
(H3), files outside the folders given are never read or copied (M6), and a relative --to works."""
from __future__ import annotations

import json
import textwrap
from pathlib import Path

import yaml

from ..conftest import run_cli


def notebook(path: Path, *cells: str) -> Path:
    nb = {"cells": [{"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": None,
                     "source": textwrap.dedent(c).strip("\n")} for c in cells],
          "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    path.write_text(json.dumps(nb))
    return path


INJECT = "2.0\\nmodel:\\n  _target_: train.build\\n  marker: 1"


def hostile_project(root: Path, marker: Path) -> Path:
    root.mkdir()
    (root / "src").mkdir()
    (root / "src" / "train.py").write_text(f"from azureml.core import Run\nopen({str(marker)!r}, 'w').write('ran')\n"
                                           "def build(**kw):\n    return None\n")
    (root / "train.py").write_text(f"open({str(marker)!r}, 'w').write('ran')\ndef build(**kw):\n    return None\n")
    return notebook(root / "nb.ipynb", f"""
        from azureml.core import Workspace, Experiment, ScriptRunConfig, Environment
        from azureml.train.dnn import TensorFlow
        from azureml.core.compute import AmlCompute, ComputeTarget
        ws = Workspace.from_config()
        env = Environment('env\\nmodel:\\n  _target_: train.build')
        env.docker.base_image = 'img\\nmodel:\\n  _target_: train.build'
        cfg = AmlCompute.provisioning_configuration(vm_size='STANDARD_NC6\\nmodel: {{_target_: train.build}}')
        ct = ComputeTarget.create(ws, 'gpu\\ncluster', cfg)
        est = TensorFlow(source_directory='./src', entry_script='train.py', framework_version='{INJECT}',
                         script_params={{'--x\\nmodel:': '${{oc.env:HOME}}'}}, compute_target=ct)
        run = Experiment(ws, 'exp\\nmodel: 1').submit(est)
        """)


def test_notebook_strings_never_become_live_yaml_and_check_never_runs_project_code(tmp_path):
    marker = tmp_path / "marker"
    src = hostile_project(tmp_path / "v1", marker).parent
    dest = tmp_path / "out"
    res = run_cli(["migrate", str(src), "--to", str(dest), "--check"])
    assert not marker.exists(), "--check imported the project's code"
    assert res.returncode in (0, 2), res.stderr
    for f in (dest / "conf").rglob("*.yaml"):
        data = yaml.safe_load(f.read_text()) or {}
        assert "model" not in data, f"{f}: {data}"
        assert set(data) <= {"defaults", "name", "description", "python", "tensorflow", "keras", "device", "pip",
                              "entry", "run", "params", "partition", "gpus_per_node", "cpus_per_task", "registry",
                              "format", "sources", "files", "hydra", "env_vars"}, f"{f}: {sorted(data)}"
        assert not [ln for ln in f.read_text().splitlines() if ln.startswith("model")], f
    experiment = next((dest / "conf" / "experiment").glob("*.yaml"))
    args = yaml.safe_load(experiment.read_text())["entry"]["arguments"]
    assert "\\${oc.env:HOME}" in args, args           # an interpolation in a notebook string stays text


def test_nothing_is_written_through_a_link_inside_the_destination(tmp_path):
    """H3: a (dangling) link planted in --to must not send a write outside it."""
    src = notebook(tmp_path / "nb.ipynb", """
        from azureml.core import Workspace, Environment
        env = Environment('tf-env')
        env.python.conda_dependencies.add_pip_package('tqdm')
        """)
    dest, outside = tmp_path / "out", tmp_path / "elsewhere"
    (dest / "conf" / "environment").mkdir(parents=True)
    outside.mkdir()
    (dest / "conf" / "environment" / "tf-env.yaml").symlink_to(outside / "planted.pth")
    (dest / ".trainkitignore").symlink_to(outside / "ignore")
    res = run_cli(["migrate", str(src), "--to", str(dest)])
    assert res.returncode == 0, res.stderr
    assert list(outside.iterdir()) == []
    report = (dest / "MIGRATION.md").read_text()
    assert "tf-env.yaml: refused" in report


def test_a_linked_folder_inside_the_destination_is_refused(tmp_path):
    src = notebook(tmp_path / "nb.ipynb", """
        from azureml.core import Environment
        env = Environment.get(None, 'AzureML-TensorFlow-2.3-GPU')
        env2 = Environment('mine')
        """)
    dest, outside = tmp_path / "out", tmp_path / "elsewhere"
    dest.mkdir()
    outside.mkdir()
    (dest / "conf").symlink_to(outside, target_is_directory=True)
    res = run_cli(["migrate", str(src), "--to", str(dest)])
    assert res.returncode == 0, res.stderr
    assert list(outside.iterdir()) == []
    assert "conf: a link or not a folder" in (dest / "MIGRATION.md").read_text()


def test_files_a_notebook_names_outside_the_folders_given_are_never_read(tmp_path):
    """M6: from_pip_requirements(file_path=...) of a credentials file once landed in `pip:`."""
    secret = tmp_path / "home" / ".netrc"
    secret.parent.mkdir()
    secret.write_text("machine pypi password HUNTER2\n")
    project = tmp_path / "project"
    project.mkdir()
    notebook(project / "nb.ipynb", f"""
        from azureml.core import Environment, ScriptRunConfig
        env = Environment.from_pip_requirements(name='e', file_path={str(secret)!r})
        env2 = Environment.from_conda_specification(name='f', file_path='../home/.netrc')
        src = ScriptRunConfig(source_directory='/etc', script='hostname', environment=env)
        """)
    dest = tmp_path / "out"
    res = run_cli(["migrate", str(project), "--to", str(dest)])
    assert res.returncode == 0, res.stderr
    for f in dest.rglob("*"):
        if f.is_file() and f.name != "MIGRATION.md":
            assert "HUNTER2" not in f.read_text(errors="replace"), f
    assert not (dest / "etc").exists() and not list(dest.glob("*/hostname"))
    report = (dest / "MIGRATION.md").read_text()
    assert "HUNTER2" not in report
    assert f"{secret}: outside the folders given" in report and "/etc: outside the folders given" in report


def test_check_works_with_a_relative_destination(tmp_path):
    project = tmp_path / "v1"
    project.mkdir()
    (project / "train.py").write_text("print(1)\n")
    notebook(project / "nb.ipynb", """
        from azureml.core import ScriptRunConfig, Experiment, Workspace
        ws = Workspace.from_config()
        src = ScriptRunConfig(source_directory='.', script='train.py', compute_target='local')
        Experiment(ws, 'rel').submit(src)
        """)
    import subprocess
    import sys

    res = subprocess.run([sys.executable, "-m", "trainkit.cli", "migrate", "v1", "--to", "out", "--check"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "project: expected a directory" not in res.stdout
    assert (tmp_path / "out" / "conf" / "experiment" / "rel.yaml").exists()
