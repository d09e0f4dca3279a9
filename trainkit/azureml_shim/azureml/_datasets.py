"""Notebook-made datasets as trainkit datasets: a registered FileDataset/TabularDataset becomes a
dataset config `<workspace>/azureml/conf/dataset/NAME.yaml` (written as `trainkit migrate` writes
them: sources, files with their roles, format told from the names) and a version in the
workspace's dataset registry (fetched, verified and versioned by content; web URLs through the
mirrors: $TRAINKIT_MIRRORS or the workspace's workspace.yaml). Runs use it with `dataset=NAME` and
the search path `hydra.searchpath=[file://<workspace>/azureml/conf]`."""
from __future__ import annotations

from pathlib import Path

LABEL_NOTE = "tabular dataset {name}: its label column is taken to be {label!r}, the last one (set `label:` in {path})"


def conf_dir(ws_root: Path) -> Path:
    """Where the notebook layer writes configs (dataset/, hparams_search/)."""
    return Path(ws_root) / "azureml" / "conf"


def searchpath(ws_root: Path) -> list[str]:
    """The override that lets a run find those configs (none before any was written)."""
    d = conf_dir(ws_root)
    return [f"hydra.searchpath=[file://{d}]"] if d.is_dir() else []


def option_of(name: str) -> str:
    """trainkit's name for an Azure dataset name (letters, digits, '.', '_', '-')."""
    from trainkit.migrate.emit import slug

    return slug(name, "dataset")


def config_path(ws_root: Path, option: str) -> Path:
    return conf_dir(ws_root) / "dataset" / f"{option}.yaml"


def read_config(ws_root: Path, option: str) -> dict | None:
    import yaml

    path = config_path(ws_root, option)
    return yaml.safe_load(path.read_text()) if path.is_file() else None


def config_of(option: str, urls: list[str], description: str, tabular: bool, columns: list[str] | None = None) -> dict:
    """A dataset config for these files (what `trainkit migrate` writes for Dataset.File.from_files)."""
    from trainkit.migrate.emit.datasets import common_folder, file_entries

    source = common_folder(urls)
    files, fmt = file_entries(urls, source, tabular=tabular)
    data = {"defaults": ["base_dataset", "_self_"], "name": option, "description": description or "",
            "format": fmt, "sources": [source], "files": files}
    if fmt == "idx":
        data["num_classes"] = 10
    if fmt in ("csv", "parquet") and columns:
        data["label"] = columns[-1]
    if fmt == "custom":
        data["loader"] = "trainkit.azureml_shim.loaders:files_only"
    return data


def write_config(ws_root: Path, option: str, data: dict, header: str) -> Path:
    import yaml

    from trainkit.fsutil import atomic_write_text
    from trainkit.migrate.emit import escaped

    path = config_path(ws_root, option)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, f"# {header}\n" + yaml.safe_dump(escaped(data), sort_keys=False))
    return path


def same_definition(a: dict | None, b: dict) -> bool:
    keys = ("format", "sources", "files", "label")
    return a is not None and all(a.get(k) == b.get(k) for k in keys)


def register_version(ws_root: Path, option: str):
    """Fetch, verify and version the dataset `option` (its config here, else the project's or trainkit's)."""
    from trainkit.config.compose import compose_job
    from trainkit.config.schema import DatasetConfig, from_dict
    from trainkit.data.datasets import DatasetStore
    from trainkit.records.workspace import WorkspacePaths

    cfg = compose_job([f"dataset={option}", *searchpath(ws_root)])
    return DatasetStore(WorkspacePaths.at(str(ws_root))).prepare(from_dict(DatasetConfig, cfg["dataset"]))


def versions(ws_root: Path, option: str) -> list:
    from trainkit.data.datasets import DatasetStore
    from trainkit.errors import DataError
    from trainkit.records.workspace import WorkspacePaths

    try:
        return DatasetStore(WorkspacePaths.at(str(ws_root))).versions(option)
    except DataError:
        return []


def fetch_urls(urls: list[str], target: Path, ws_root: Path) -> list[Path]:
    """Download files of an unregistered dataset (through the mirrors) into `target`."""
    from trainkit.data import fetch, mirrors

    out, table = [], mirrors.configured(ws_root)
    target.mkdir(parents=True, exist_ok=True)
    for url in urls:
        folder, name = url.rsplit("/", 1) if "/" in url else ("", url)
        errors = []
        for source in mirrors.expand([folder + "/"], table):
            try:
                fetch.download(fetch.join(source, name), target / name, timeout=30.0, deadline_s=3600.0,
                               max_bytes=int(20e9))
                out.append(target / name)
                break
            except Exception as e:   # noqa: BLE001 - try the next mirror
                errors.append(f"{fetch.join(source, name)}: {type(e).__name__}: {e}")
        else:
            from .exceptions import DatasetException

            raise DatasetException(f"{url}: every source failed: {'; '.join(errors)}")
    return out
