"""The wheel's layout, checked from pyproject.toml: conf/ and models/ ship inside `trainkit`,
every config group directory is a listed package with its YAML, and no other top-level package."""
from __future__ import annotations

import tomllib

from ..conftest import ROOT


def test_every_config_group_ships_in_the_wheel():
    tool = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    groups = sorted(p.name for p in (ROOT / "conf").iterdir() if p.is_dir() and not p.name.startswith("__"))
    assert {f"trainkit.conf.{g}" for g in groups} <= set(tool["packages"])
    assert all(tool["package-data"][f"trainkit.conf.{g}"] == ["*.yaml"] for g in groups)
    assert tool["package-dir"] == {"trainkit.conf": "conf", "trainkit.models": "models"}
    assert {p.split(".")[0] for p in tool["packages"]} == {"trainkit", "hydra_plugins"}
    assert "keras_api.json" in tool["package-data"]["trainkit.config"]


def test_every_python_package_of_trainkit_ships_in_the_wheel():
    """A package missing from the list is missing from the wheel (`trainkit migrate` once was)."""
    tool = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    found = {".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "trainkit").rglob("__init__.py")
             if "__pycache__" not in p.parts and "static" not in p.parts}
    assert found - set(tool["packages"]) == set()
