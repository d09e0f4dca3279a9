"""Which project is trainkit running in? A project is a directory of the user's own: its `conf/`
overlays trainkit's configs, its root is importable by every worker, and its files are the run's
source snapshot.

Found as: `$TRAINKIT_PROJECT` if set, else the nearest directory holding a `conf/` directory,
starting at the working directory and going up. Without one, the working directory stands in
(importable and snapshotted, but no config overlay)."""
from __future__ import annotations

import os
from pathlib import Path

from ..errors import ConfigError

PROJECT_ENV = "TRAINKIT_PROJECT"
BUILTIN_CONF = "pkg://trainkit.conf"


def find_project(cwd: str | Path | None = None, environ=None) -> Path | None:
    """The project directory, or None when there is none."""
    env = os.environ if environ is None else environ
    if env.get(PROJECT_ENV):
        root = Path(env[PROJECT_ENV]).expanduser().resolve()
        if not root.is_dir():
            raise ConfigError([f"${PROJECT_ENV}: expected a project directory, got {str(root)!r} (not a directory)"])
        return root
    here = Path(cwd or os.getcwd()).resolve()
    for d in (here, *here.parents):
        if (d / "conf").is_dir():
            return d
    return None


def project_root(cwd: str | Path | None = None) -> Path:
    """The project directory, else the working directory."""
    return find_project(cwd) or Path(cwd or os.getcwd()).resolve()


def builtin_conf_dir() -> Path:
    """Where trainkit's own configs are (the installed package, or the checkout's conf/)."""
    import importlib.util

    spec = importlib.util.find_spec("trainkit.conf")
    return Path(next(iter(spec.submodule_search_locations))).resolve()


def overlay_dir() -> Path | None:
    """The project's conf/ when it adds to trainkit's (not trainkit's own conf/ again)."""
    project = find_project()
    if project is None or not (project / "conf").is_dir():
        return None
    conf = (project / "conf").resolve()
    return None if conf == builtin_conf_dir() else conf
