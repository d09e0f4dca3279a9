"""Mirrors of dataset sources, set once for a machine or a workspace: a URL prefix and the place
that holds the same files (an offline copy, a closer server). Every dataset fetch tries a source's
mirrors before the source itself; `trainkit migrate --mirror` and the Azure ML notebook layer use
the same setting.

    TRAINKIT_MIRRORS="http://yann.lecun.com/exdb/mnist/=file:///usr/share/datasets/fashion-mnist/,..."

or, in the workspace, `<workspace>/workspace.yaml`:

    mirrors:
      http://yann.lecun.com/exdb/mnist/: file:///usr/share/datasets/fashion-mnist/

The variable's entries come first. No I/O but reading that one file."""
from __future__ import annotations

import os
from pathlib import Path

from ..errors import ConfigError

ENV = "TRAINKIT_MIRRORS"
CONFIG = "workspace.yaml"     # the workspace's own settings file (its `mirrors:` key)


def parse(text: str, where: str = ENV) -> dict[str, str]:
    """"PREFIX=MIRROR,PREFIX=MIRROR" as {prefix: mirror}; ConfigError naming every bad entry."""
    out, problems = {}, []
    for item in (i.strip() for i in str(text).split(",")):
        if not item:
            continue
        prefix, sep, mirror = item.partition("=")
        if not sep or not prefix.strip() or not mirror.strip():
            problems.append(f"{where}: expected PREFIX=MIRROR (e.g. http://host/data/=file:///srv/data/), got {item!r}")
            continue
        out[prefix.strip()] = mirror.strip()
    if problems:
        raise ConfigError(problems)
    return out


def from_file(path: Path) -> dict[str, str]:
    """The `mirrors:` of a workspace.yaml ({prefix: mirror}, or a list of "PREFIX=MIRROR")."""
    import yaml

    if not path.is_file():
        return {}
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as e:
        raise ConfigError([f"{path}: expected YAML, got a parse error ({str(e).splitlines()[0]})"]) from None
    value = data.get("mirrors") if isinstance(data, dict) else None
    if value is None:
        return {}
    if isinstance(value, list):
        return parse(",".join(str(v) for v in value), f"{path}: mirrors")
    if isinstance(value, dict) and all(isinstance(k, str) and isinstance(v, str) and k and v for k, v in value.items()):
        return dict(value)
    raise ConfigError([f"{path}: mirrors: expected a mapping URL_PREFIX: MIRROR (or a list of 'PREFIX=MIRROR'), "
                       f"got {value!r}"])


def configured(workspace_root: str | Path | None = None, environ=None) -> dict[str, str]:
    """The mirrors in force: $TRAINKIT_MIRRORS's, then the workspace's workspace.yaml's."""
    env = os.environ if environ is None else environ
    out = parse(env[ENV]) if env.get(ENV) else {}
    if workspace_root is not None:
        for prefix, mirror in from_file(Path(workspace_root) / CONFIG).items():
            out.setdefault(prefix, mirror)
    return out


def expand(sources: list[str], mirrors: dict[str, str]) -> list[str]:
    """The sources with each one's mirrors tried first (longest prefix first), duplicates dropped."""
    out: list[str] = []
    for source in sources:
        matching = sorted((p for p in mirrors if source.startswith(p)), key=len, reverse=True)
        out += [mirrors[p] + source[len(p):] for p in matching] + [source]
    return list(dict.fromkeys(out))
