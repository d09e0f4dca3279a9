"""The docs: the site builds with `mkdocs build --strict` (broken links and missing pages fail), its
reference pages say what the code says, and the README's two commands are what CI runs."""
from __future__ import annotations

import itertools
import re
import subprocess
import sys

from ..conftest import ROOT, compose


def test_the_site_builds_strict(tmp_path):
    res = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(tmp_path / "site")],
                         cwd=ROOT, capture_output=True, text=True, env={**__import__("os").environ,
                                                                         "NO_MKDOCS_2_WARNING": "1"})
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    api = (tmp_path / "site" / "reference" / "python-api" / "index.html").read_text()
    assert "register_model" in api and "Workspace" in api and "filter language" in api
    examples = (tmp_path / "site" / "getting-started" / "examples" / "index.html").read_text()
    assert "load_breast_cancer" in examples and "InferenceServerClient" in examples   # included from examples/
    assert "--8&lt;--" not in examples


ALTERNATIVES = ("dataset", "environment")   # groups whose options are different things: the page shows what each inherits


def section_rows(text: str, title: str) -> dict[str, str]:
    """key -> default cell of one `## `title`` table of the config reference."""
    section = text.split(f"## `{title}`\n", 1)[1].split("\n## ", 1)[0]
    return dict(re.findall(r"^\| `([\w.]+)` \| (.*?) \|", section, re.M))


def shown(value) -> str:
    """How the page writes a composed value (interpolations as written: the page is not resolved here)."""
    if value == "???":
        return "*required*"
    if value is None or isinstance(value, bool):
        return f"`{str(value).lower() if value is not None else 'null'}`"
    return f"`{value}`" if isinstance(value, str) and value else f"`{value!r}`"


def composed_sections(titles: list[str]) -> dict[str, dict]:
    """title -> the group a page section describes, composed for real from the YAML tree: the option it
    names (`compute=slurm`), the schema every option of a group of alternatives inherits (`dataset`),
    or the default config (`trainer`, `run`). One composition takes one option of each group."""
    from omegaconf import OmegaConf

    by_group: dict[str, list[str]] = {}
    for title in titles:
        by_group.setdefault(title.split("=")[0], []).append(title)
    out = {}
    for batch in itertools.zip_longest(*by_group.values()):
        titles = [t for t in batch if t]
        overrides = [t if "=" in t else f"{t}=base_{t}" for t in titles if "=" in t or t in ALTERNATIVES]
        cfg = OmegaConf.to_container(compose(overrides), resolve=False)
        out.update({t: cfg[t.split("=")[0]] for t in titles})
    return out


def test_the_config_reference_shows_each_groups_composed_defaults():
    """Every key on the page, under every group option, with the value Hydra really composes from the
    YAML files (a default changed in conf/ must change the page), and every composed key on the page."""
    from trainkit.docsgen import config_reference

    text = config_reference()
    titles = re.findall(r"^## `(.+?)`$", text, re.M)
    assert {"compute=slurm", "distribution=horovod", "entry=script", "trainer", "run", "dataset"} <= set(titles)
    composed = composed_sections(titles)
    for title in titles:
        prefix, group = title.split("=")[0], composed[title]
        rows = section_rows(text, title)
        assert {f"{prefix}.{k}" for k in group} <= {".".join(k.split(".")[:2]) for k in rows}, title
        for key, cell in rows.items():
            value = group
            for part in key.split(".")[1:]:
                value = value[part]
            assert cell == shown(value), f"{title}: {key} reads {cell}, composes to {shown(value)}"
    assert "| `compute.slots` | `4` |" in text and "| `compute.max_requeue` | `3` |" in text
    assert "| `entry.name` | `script` |" in text and "| `trainer.epochs` | `10` |" in text


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
