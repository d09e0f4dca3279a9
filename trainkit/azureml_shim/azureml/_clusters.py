"""Which trainkit compute an Azure cluster name runs on: a small `azureml.yaml` in the project (or
the notebook's folder) or in the workspace,

    clusters:
      gpu-cluster: {compute: slurm, partition: gpu}   # compute=slurm compute.partition=gpu
      cpu-cluster: local                               # shorthand for {compute: local}

and the clusters a notebook created with ComputeTarget.create (kept in <workspace>/azureml/clusters.json,
running on this machine unless azureml.yaml says otherwise). The project's file wins over the
workspace's. Unknown names: ComputeTarget raises ComputeTargetException; a name passed as a string
runs on this machine."""
from __future__ import annotations

import json
from pathlib import Path

FILE = "azureml.yaml"
DEFAULT = "local"


def files(workspace_root: Path) -> list[Path]:
    """The azureml.yaml files that apply, first wins: the project's (or the working directory's), the workspace's."""
    from trainkit.launch.project import project_root

    return [p for p in (project_root() / FILE, Path(workspace_root) / FILE) if p.is_file()]


def _entries(path: Path) -> dict[str, dict]:
    import yaml

    from trainkit.errors import ConfigError

    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as e:
        raise ConfigError([f"{path}: expected YAML, got a parse error ({str(e).splitlines()[0]})"]) from None
    clusters = data.get("clusters", {}) if isinstance(data, dict) else None
    if not isinstance(clusters, dict):
        raise ConfigError([f"{path}: clusters: expected a mapping NAME: {{compute: OPTION, ...}}, got {clusters!r}"])
    out, problems = {}, []
    for name, entry in clusters.items():
        entry = {"compute": entry} if isinstance(entry, str) else entry
        if not isinstance(entry, dict) or not isinstance(entry.get("compute"), str):
            problems.append(f"{path}: clusters.{name}: expected a compute option name or {{compute: OPTION, KEY: VALUE}}, "
                            f"got {clusters[name]!r}")
            continue
        out[str(name)] = dict(entry)
    if problems:
        raise ConfigError(problems)
    return out


def created_file(workspace_root: Path) -> Path:
    return Path(workspace_root) / "azureml" / "clusters.json"


def created(workspace_root: Path) -> dict[str, dict]:
    """Clusters made with ComputeTarget.create: {name: their provisioning settings}."""
    try:
        return json.loads(created_file(workspace_root).read_text())
    except (OSError, ValueError):
        return {}


def remember(workspace_root: Path, name: str, settings: dict) -> None:
    from trainkit.fsutil import atomic_write_json

    known = created(workspace_root)
    known[name] = settings
    created_file(workspace_root).parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(created_file(workspace_root), known)


def forget(workspace_root: Path, name: str) -> None:
    from trainkit.fsutil import atomic_write_json

    known = created(workspace_root)
    if known.pop(name, None) is not None:
        atomic_write_json(created_file(workspace_root), known)


def mapped(workspace_root: Path) -> dict[str, dict]:
    """{cluster name: its azureml.yaml entry} (project first)."""
    out: dict[str, dict] = {}
    for path in files(workspace_root):
        for name, entry in _entries(path).items():
            out.setdefault(name, entry)
    return out


def lookup(workspace_root: Path, name: str) -> dict | None:
    """The compute entry of a cluster name ({compute: ...}); None when nothing knows the name."""
    if name.lower() == DEFAULT:
        return {"compute": DEFAULT}
    entry = mapped(workspace_root).get(name)
    if entry is not None:
        return entry
    return {"compute": DEFAULT} if name in created(workspace_root) else None
