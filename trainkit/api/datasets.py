"""Registered datasets from Python (Azure ML's `Dataset.File.from_files(...).register()`,
`Dataset.get_by_name(ws, name, version)` and `dataset.download(target_path)`)."""
from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

from ..errors import DataError, UsageError


def parse_ref(ref: str) -> tuple[str, int | None]:
    """NAME or NAME:VERSION."""
    name, _, ver = ref.partition(":")
    if ver and not ver.isdigit():
        raise UsageError(f"dataset reference {ref!r}: expected NAME or NAME:VERSION (a number), got version {ver!r}")
    return name, int(ver) if ver else None


def register(ws_paths, name: str, overrides: list[str] = (), project: str | Path | None = None, progress=None):
    """Fetch, verify and version the configured dataset `name` (conf/dataset/NAME.yaml of the
    project or trainkit's, with `KEY=VALUE` overrides of its keys) without a run; the new or
    unchanged version (a version is its content: the same files register once)."""
    from ..config.compose import compose_dataset, in_project
    from ..config.schema import DatasetConfig, from_dict
    from ..data.datasets import DatasetStore

    with in_project(project):
        cfg = compose_dataset(name, list(overrides))
    return DatasetStore(ws_paths).prepare(from_dict(DatasetConfig, cfg), progress)


def _files(dv) -> list[tuple[str, Path, str | None]]:
    """(relative target, cached path, sha256 of a file) of every file or directory of a version."""
    from ..records.workspace import blob_relpath

    out = []
    for units in dv.files.values():
        for u in units:
            rel = blob_relpath(u["path"]).split("/", 1)[1]
            out.append((rel, Path(u["path"]), u.get("sha256") if Path(u["path"]).is_file() else None))
    return out


def download(dv, to: Path, overwrite: bool = False, hint: str = "pass overwrite=True or another `to`") -> list[Path]:
    """Copy a version's cached files into `to`, each file checked against its sha256 after copying."""
    files = _files(dv)
    clash = [str(to / rel) for rel, _, _ in files if (to / rel).exists()]
    if clash and not overwrite:
        raise UsageError(f"{len(clash)} target(s) exist, e.g. {clash[0]}; {hint}")
    written = []
    for rel, src, sha in files:
        target = to / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        if src.is_dir():
            shutil.copytree(src, target, dirs_exist_ok=True, symlinks=True)
        else:
            shutil.copyfile(src, target)
            got = hashlib.sha256(target.read_bytes()).hexdigest()
            if sha and got != sha:
                raise DataError(f"{target}: sha256 mismatch after copying: expected {sha}, got {got} "
                                f"(the cached {src} changed: `trainkit datasets register {dv.name}` fetches it again)")
        written.append(target)
    return written


class FileList(list):
    """A list of file names that also answers being called (`ds.files()`, as `run.files()`)."""

    def __call__(self) -> list[str]:
        return list(self)


class DatasetVersion:
    """One registered version: name, version, digest, format, files; `download(to)`."""

    def __init__(self, workspace, dv):
        self.workspace, self._dv = workspace, dv

    name = property(lambda self: self._dv.name)
    version = property(lambda self: self._dv.version)
    digest = property(lambda self: self._dv.digest)
    format = property(lambda self: self._dv.format)
    records = property(lambda self: (self._dv.info or {}).get("records"))

    @property
    def files(self) -> "FileList":
        """The version's files, as `download` lays them out: a list, and callable like a run's
        `files()`, so `ds.files` and `ds.files()` both answer."""
        return FileList(rel for rel, _, _ in _files(self._dv))

    def download(self, to: str | Path = ".", overwrite: bool = False) -> list[Path]:
        """Copy the files into `to` (sha256 checked)."""
        return download(self._dv, Path(to), overwrite)

    def to_json(self) -> dict:
        return self._dv.to_json()

    def __repr__(self) -> str:
        return f"DatasetVersion({self.name!r}, {self.version}, digest={self.digest[:12]!r})"


class Datasets:
    """The workspace's registered datasets (`Workspace.datasets`)."""

    def __init__(self, workspace):
        self.workspace = workspace

    def register(self, name: str, project: str | Path | None = None, **overrides) -> DatasetVersion:
        """Fetch, verify and version the configured dataset `name` (its keys may be overridden:
        `register("fashion_csv", sources=["file:///data/csv/"])`)."""
        from ..config.compose import overrides_of

        dv = register(self.workspace.paths, name, overrides_of([overrides]), project)
        return DatasetVersion(self.workspace, dv)

    def get(self, ref: str, version: int | None = None) -> DatasetVersion:
        """"name" (latest), "name:2", or get("name", 2); NotFound names the versions that exist."""
        from ..data.datasets import DatasetStore

        name, v = parse_ref(ref)
        return DatasetVersion(self.workspace, DatasetStore(self.workspace.paths).get(name, version or v))

    def list(self) -> list[DatasetVersion]:
        from ..data.datasets import DatasetStore

        store = DatasetStore(self.workspace.paths)
        return [DatasetVersion(self.workspace, v) for n in store.names() for v in store.versions(n)]
