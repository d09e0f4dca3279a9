"""Config group options from Hydra's search path: `hydra.searchpath=[file://DIR]`, `--config-dir DIR`
and a SearchPathPlugin each add DIR/dataset/mine.yaml as `dataset=mine`, and an unknown option still
gets the list of the real options (the added one included). Real `python -m trainkit` processes,
`--cfg job` (composed and printed, nothing run)."""
from __future__ import annotations

from pathlib import Path

import pytest

from trainkit.config.compose import compose_job

from ..conftest import ROOT, run_trainkit

PLUGIN = '''from hydra.core.config_search_path import ConfigSearchPath
from hydra.plugins.search_path_plugin import SearchPathPlugin


class TeamConfigs(SearchPathPlugin):
    def manipulate_search_path(self, search_path: ConfigSearchPath) -> None:
        search_path.append("team-configs", "file://{conf}")
'''


@pytest.fixture
def conf(tmp_path) -> Path:
    """DIR with dataset/mine.yaml: trainkit's fashion_csv under another description."""
    text = (ROOT / "conf" / "dataset" / "fashion_csv.yaml").read_text()
    assert "\ndescription:" in text
    (tmp_path / "conf" / "dataset").mkdir(parents=True)
    mine = "\n".join("description: mine, from an added search path" if line.startswith("description:") else line
                     for line in text.splitlines())
    (tmp_path / "conf" / "dataset" / "mine.yaml").write_text(mine + "\n")
    return tmp_path / "conf"


def plugin_env(tmp_path: Path, conf: Path) -> dict:
    """PYTHONPATH with a package hydra_plugins.team_configs holding a SearchPathPlugin that adds `conf`."""
    pkg = tmp_path / "plugins" / "hydra_plugins" / "team_configs"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "team_configs.py").write_text(PLUGIN.format(conf=conf))
    return {"PYTHONPATH": str(tmp_path / "plugins")}


@pytest.mark.parametrize("how", ["hydra.searchpath", "--config-dir", "plugin"])
def test_an_added_config_directory_provides_group_options(how, conf, tmp_path, workspace):
    args = {"hydra.searchpath": [f"hydra.searchpath=[file://{conf}]"], "--config-dir": ["--config-dir", str(conf)],
            "plugin": []}[how]
    env = plugin_env(tmp_path, conf) if how == "plugin" else {}
    ok = run_trainkit([*args, "dataset=mine", "--cfg", "job"], env)
    assert ok.returncode == 0, ok.stderr
    assert "description: mine, from an added search path" in ok.stdout
    bad = run_trainkit([*args, "dataset=mien", "trainer.epochs=2", "--cfg", "job"], env)
    assert bad.returncode == 2 and "dataset=mien: expected an option of config group 'dataset' (fashion_csv, " \
        "fashion_mnist, fashion_npz, fashion_parquet, fashion_png, fashion_tfrecord, mine, mnist), got 'mien'" in bad.stderr
    assert not workspace.exists()


def test_without_the_added_directory_the_option_is_unknown_and_the_python_api_takes_the_search_path(conf, workspace):
    plain = run_trainkit(["dataset=mine", "--cfg", "job"])
    assert plain.returncode == 2 and "(fashion_csv, fashion_mnist, fashion_npz, fashion_parquet, fashion_png, " \
        "fashion_tfrecord, mnist), got 'mine'" in plain.stderr
    job = compose_job([f"hydra.searchpath=[file://{conf}]", "dataset=mine"])
    assert job["dataset"]["description"] == "mine, from an added search path"
