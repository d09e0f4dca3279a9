"""Mirrors of dataset sources ($TRAINKIT_MIRRORS, the workspace's workspace.yaml): parsed with clear
errors, tried before the source by every dataset fetch, shared with `trainkit migrate`."""
from __future__ import annotations

import hashlib

import pytest

from trainkit.config.schema import DatasetConfig, from_dict
from trainkit.data import mirrors
from trainkit.data.datasets import DatasetStore
from trainkit.errors import ConfigError
from trainkit.records.workspace import WorkspacePaths

from ..conftest import write_idx_set
from .test_datasets import ROLES, dead_url


def test_parse_reads_entries_and_names_every_bad_one():
    assert mirrors.parse("http://a/x/=file:///m/x/, https://b/=https://c/d/") == {
        "http://a/x/": "file:///m/x/", "https://b/": "https://c/d/"}
    with pytest.raises(ConfigError) as e:
        mirrors.parse("http://a/=,nothing,=file:///x/")
    assert len(e.value.problems) == 3 and all("TRAINKIT_MIRRORS: expected PREFIX=MIRROR" in p for p in e.value.problems)


def test_expand_puts_the_longest_matching_mirror_first_and_keeps_the_source():
    table = {"http://h/": "file:///all/", "http://h/mnist/": "file:///mnist/"}
    assert mirrors.expand(["http://h/mnist/", "http://other/"], table) == [
        "file:///mnist/", "file:///all/mnist/", "http://h/mnist/", "http://other/"]


def test_the_variable_comes_before_the_workspace_file(tmp_path):
    (tmp_path / "workspace.yaml").write_text("mirrors:\n  http://h/: file:///ws/\n  http://k/: file:///k/\n")
    got = mirrors.configured(tmp_path, {"TRAINKIT_MIRRORS": "http://h/=file:///env/"})
    assert got == {"http://h/": "file:///env/", "http://k/": "file:///k/"}
    (tmp_path / "workspace.yaml").write_text("mirrors: [3]\n")
    with pytest.raises(ConfigError, match="workspace.yaml: mirrors: expected PREFIX=MIRROR"):
        mirrors.configured(tmp_path, {})
    (tmp_path / "workspace.yaml").write_text("mirrors: 3\n")
    with pytest.raises(ConfigError, match="expected a mapping URL_PREFIX: MIRROR"):
        mirrors.configured(tmp_path, {})


@pytest.mark.parametrize("where", ["env", "workspace"])
def test_a_dataset_whose_source_is_down_is_fetched_from_its_mirror(tmp_path, monkeypatch, where):
    files = write_idx_set(tmp_path / "copy")
    source = dead_url()
    table = f"{source}=file://{tmp_path / 'copy'}/"
    ws = WorkspacePaths.at(str(tmp_path / "ws"))
    ws.root.mkdir(parents=True)
    if where == "env":
        monkeypatch.setenv("TRAINKIT_MIRRORS", table)
    else:
        monkeypatch.delenv("TRAINKIT_MIRRORS", raising=False)
        (ws.root / "workspace.yaml").write_text(f"mirrors:\n  '{source}': 'file://{tmp_path / 'copy'}/'\n")
    cfg = from_dict(DatasetConfig, {"name": "mirrored", "sources": [source], "num_classes": 10,
                                    "download_timeout_s": 2.0,
                                    "files": [{"name": n, "role": ROLES[n], "sha256": None} for n in files]})
    dv = DatasetStore(ws).prepare(cfg)
    assert {u["source"] for units in dv.files.values() for u in units} == {
        f"file://{tmp_path / 'copy'}/{n}" for n in files}
    assert {u["sha256"] for units in dv.files.values() for u in units} == {
        hashlib.sha256(p.read_bytes()).hexdigest() for p in files.values()}


def test_migrate_takes_its_mirrors_from_the_variable_too(tmp_path):
    from ..conftest import ROOT, run_cli

    dest = tmp_path / "project"
    env = {"TRAINKIT_MIRRORS": "http://yann.lecun.com/exdb/mnist/=file:///usr/share/datasets/fashion-mnist/",
           "TRAINKIT_WORKSPACE": str(tmp_path / "ws")}
    res = run_cli(["migrate", str(ROOT / "tests/fixtures/azureml/train-tensorflow.ipynb"), "--to", str(dest)], env)
    assert res.returncode == 0, res.stdout + res.stderr
    import yaml

    [config] = [yaml.safe_load(p.read_text()) for p in (dest / "conf" / "dataset").glob("*.yaml")]
    assert config["sources"] == ["file:///usr/share/datasets/fashion-mnist/", "http://yann.lecun.com/exdb/mnist/"]
