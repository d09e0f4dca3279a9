"""The docs: the site builds with `mkdocs build --strict` (broken links and missing pages fail), its
reference pages say what the code says, and the README's two commands are what CI runs."""
from __future__ import annotations

import dataclasses
import re
import subprocess
import sys

import pytest

from ..conftest import ROOT


def test_the_site_builds_strict(tmp_path):
    pytest.importorskip("mkdocs", reason="the docs extra (scripts/setup.sh installs it)")
    res = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(tmp_path / "site")],
                         cwd=ROOT, capture_output=True, text=True, env={**__import__("os").environ,
                                                                         "NO_MKDOCS_2_WARNING": "1"})
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    api = (tmp_path / "site" / "reference" / "python-api" / "index.html").read_text()
    assert "register_model" in api and "Workspace" in api and "filter language" in api
    examples = (tmp_path / "site" / "getting-started" / "examples" / "index.html").read_text()
    assert "load_breast_cancer" in examples and "InferenceServerClient" in examples   # included from examples/
    assert "--8&lt;--" not in examples


def test_the_config_reference_lists_every_schema_key_with_its_true_default():
    from trainkit.docsgen import _default, config_groups, config_reference

    text = config_reference()
    for title, prefix, cls in config_groups():
        section = text.split(f"## `{title}`\n", 1)[1].split("\n## ", 1)[0]
        for f in dataclasses.fields(cls):
            if dataclasses.is_dataclass(f.type) or f.name in ("checkpoint", "trial", "resource_configuration", "onnx"):
                continue
            row = re.search(rf"^\| `{re.escape(prefix)}\.{f.name}` \| (.*?) \|", section, re.M)
            assert row, f"{prefix}.{f.name} is missing"
            default = _default(f)
            if isinstance(default, (int, float, str)) and not isinstance(default, bool) and default != "???":
                assert str(default) in row.group(1), (f"{prefix}.{f.name}", row.group(1))
    assert "| `compute.slots` | `4` |" in text and "| `compute.max_requeue` | `3` |" in text


def test_the_cli_reference_lists_every_command():
    from trainkit.docsgen import cli_reference

    text = cli_reference()
    for command in ("runs list", "jobs cancel", "models serve", "datasets register", "sweeps best", "ui", "migrate",
                    "environments prune", "init"):
        assert f"## `trainkit {command}`" in text, command
    assert "`--port` | `8265`" in text


def test_the_readme_holds_the_two_commands_ci_runs_in_its_first_screen():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    first_screen = "\n".join(readme.splitlines()[:30])
    for command in ("bash scripts/setup.sh && .venv/bin/python -m trainkit +experiment=fashion_mnist_dnn",
                    "bash scripts/setup.sh && .venv/bin/python -m pytest"):
        assert command in first_screen and command in ci, command
    assert len(readme.encode()) < 12_500
    assert not re.search(r"issue \d+|\bseeds\b", readme, re.I)
    for link in re.findall(r"\]\((docs/[^)#]+)", readme):
        assert (ROOT / link).exists(), link
