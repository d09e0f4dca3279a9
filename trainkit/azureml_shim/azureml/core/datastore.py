"""Azure ML SDK v1's `Datastore` as a folder of the trainkit workspace
(`<workspace>/azureml/datastores/<name>/`): `upload`, `upload_files`, `download`, `path()`; a
FileDataset made from a datastore path reads the files there (file:// sources)."""
from __future__ import annotations

import shutil
from pathlib import Path

from .._tk import Surface
from ..exceptions import UserErrorException

DEFAULT = "workspaceblobstore"
CLOUD = "a folder or URL as a dataset source (sources: file://..., s3://..., https://...), or an upload to " \
        "ws.get_default_datastore() (a workspace folder)"


class Datastore(Surface):
    """A named folder of the workspace that notebooks upload to and datasets read from."""

    _unsupported = {name: CLOUD for name in (
        "register_azure_blob_container", "register_azure_file_share", "register_azure_data_lake",
        "register_azure_data_lake_gen2", "register_azure_sql_database", "register_azure_postgre_sql",
        "register_azure_my_sql", "register_dbfs", "register_hdfs", "set_as_default", "unregister")}

    def __init__(self, workspace, name: str | None = None):
        self.workspace, self.name = workspace, name or DEFAULT
        self.datastore_type, self.container_name, self.account_name = "AzureBlob", self.name, "local"
        if name and name != DEFAULT and not self.root.is_dir():
            raise UserErrorException(f"Datastore {name!r} does not exist in this workspace "
                                     f"(its datastores: {', '.join(datastores(workspace)) or DEFAULT})")

    @property
    def root(self) -> Path:
        return self.workspace._tk.root / "azureml" / "datastores" / self.name

    @staticmethod
    def get_default(workspace) -> "Datastore":
        return Datastore(workspace, DEFAULT)

    @staticmethod
    def get(workspace, datastore_name: str) -> "Datastore":
        return Datastore(workspace, datastore_name)

    def upload(self, src_dir: str, target_path: str | None = None, overwrite: bool = False,
               show_progress: bool = True):
        """Copy a local folder into the datastore (at `target_path`)."""
        from ..data.data_reference import DataReference

        target = self._inside(target_path)
        count = 0
        for src in sorted(p for p in Path(src_dir).rglob("*") if p.is_file()):
            count += self._copy(src, target / src.relative_to(src_dir), overwrite)
        if show_progress:
            print(f"Uploaded {count} files")
        return DataReference(self, path_on_datastore=target_path)

    def upload_files(self, files: list[str], relative_root: str | None = None, target_path: str | None = None,
                     overwrite: bool = False, show_progress: bool = True):
        from ..data.data_reference import DataReference

        target, count = self._inside(target_path), 0
        for f in files:
            rel = Path(f).relative_to(relative_root) if relative_root else Path(f).name
            count += self._copy(Path(f), target / rel, overwrite)
        if show_progress:
            print(f"Uploaded {count} files")
        return DataReference(self, path_on_datastore=target_path)

    def download(self, target_path: str, prefix: str | None = None, overwrite: bool = False,
                 show_progress: bool = True) -> int:
        src = self._inside(prefix)
        files = [src] if src.is_file() else sorted(p for p in src.rglob("*") if p.is_file())
        count = sum(self._copy(f, Path(target_path) / f.relative_to(self.root), overwrite) for f in files)
        if show_progress:
            print(f"Downloaded {count} files")
        return count

    def path(self, path: str | None = None, data_reference_name: str | None = None):
        from ..data.data_reference import DataReference

        return DataReference(self, data_reference_name, path)

    def as_mount(self):
        return self.path().as_mount()

    def as_download(self, path_on_compute: str | None = None):
        return self.path().as_download(path_on_compute)

    def _inside(self, rel: str | None) -> Path:
        parts = Path((rel or "").strip("/")).parts
        if ".." in parts:
            raise UserErrorException(f"datastore path {rel!r}: expected a path inside the datastore (no '..')")
        return self.root.joinpath(*parts)

    @staticmethod
    def _copy(src: Path, dest: Path, overwrite: bool) -> int:
        if dest.exists() and not overwrite:
            return 0
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dest)
        return 1

    def __repr__(self) -> str:
        return f'{{"name": "{self.name}", "datastore_type": "{self.datastore_type}", "root": "{self.root}"}}'


def datastores(workspace) -> list[str]:
    root = workspace._tk.root / "azureml" / "datastores"
    return sorted(p.name for p in root.iterdir() if p.is_dir()) if root.is_dir() else []


__all__ = ["Datastore"]
