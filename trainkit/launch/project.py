"""Which project is trainkit running in? A project is a directory of the user's own: its `conf/`
overlays trainkit's configs, its root is importable by every worker, and its files are the run's
source snapshot.

Found as: `$TRAINKIT_PROJECT` if set, else the nearest directory holding a `conf/` directory,
starting at the working directory and going up. Without one, the working directory stands in
(importable, no config overlay), and it is snapshotted only when the run's code lives there: a run
of a built-in experiment from `~` or a notebook folder copies nothing (snapshot_root)."""
from __future__ import annotations

import os
import re
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


_REF = re.compile(r"^([A-Za-z_]\w*)(\.[A-Za-z_]\w*)*(:[A-Za-z_][\w.]*)?$")


def code_refs(cfg) -> list[str]:
    """The `module` of every code reference in a composed config: `_target_` values and
    `module:attr` strings (loaders, losses, callbacks), wherever they are."""
    out: list[str] = []
    if isinstance(cfg, dict):
        for k, v in cfg.items():
            if isinstance(v, str) and _REF.match(v) and (k == "_target_" or ":" in v):
                out.append(v.split(":")[0] if ":" in v else v.rsplit(".", 1)[0])
            else:
                out += code_refs(v)
    elif isinstance(cfg, list):
        for v in cfg:
            out += code_refs(v)
    return out


def snapshot_root(cfg: dict, cwd: str | Path | None = None) -> Path | None:
    """Where a run's source snapshot comes from: the project, when there is one; else the working
    directory only when the run's code lives there (a script with no source_dir of its own, or a
    module named in the config that the directory holds). None: all the run's code is trainkit's
    own (a built-in experiment run from anywhere) and nothing is snapshotted."""
    project = find_project(cwd)
    if project is not None:
        return project
    here = Path(cwd or os.getcwd()).resolve()
    entry = cfg.get("entry") or {}
    if entry.get("name") == "script" and not entry.get("source_dir"):
        return here
    for module in code_refs(cfg):
        top = module.split(".")[0]
        if (here / f"{top}.py").is_file() or (here / top).is_dir():
            return here
    return None


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
