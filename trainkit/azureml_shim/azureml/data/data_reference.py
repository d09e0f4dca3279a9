"""Azure ML SDK v1's `DataReference` (and `DataPath`): a path on a datastore, which is a folder of
the trainkit workspace; a run gets it as that local folder."""
from __future__ import annotations

from pathlib import Path


class DataReference:
    """`datastore.path('mnist').as_mount()`: the folder <workspace>/azureml/datastores/<name>/mnist."""

    def __init__(self, datastore, data_reference_name: str | None = None, path_on_datastore: str | None = None,
                 mode: str = "mount", path_on_compute: str | None = None, overwrite: bool = False):
        self.datastore, self.data_reference_name = datastore, data_reference_name or datastore.name
        self.path_on_datastore, self.mode, self.path_on_compute = path_on_datastore, mode, path_on_compute
        self.overwrite = overwrite

    @property
    def local_path(self) -> str:
        """The folder (or file) this reference is on this machine."""
        root = Path(self.datastore.root)
        rel = (self.path_on_datastore or "").strip("/").rstrip("*").strip("/")
        return str(root / rel) if rel else str(root)

    def as_mount(self) -> "DataReference":
        return DataReference(self.datastore, self.data_reference_name, self.path_on_datastore, "mount")

    def as_download(self, path_on_compute: str | None = None, overwrite: bool = False) -> "DataReference":
        return DataReference(self.datastore, self.data_reference_name, self.path_on_datastore, "download",
                             path_on_compute, overwrite)

    def path(self, path: str | None = None, data_reference_name: str | None = None) -> "DataReference":
        joined = "/".join(p.strip("/") for p in (self.path_on_datastore or "", path or "") if p)
        return DataReference(self.datastore, data_reference_name, joined)

    def __str__(self) -> str:
        return self.local_path

    def __repr__(self) -> str:
        return f"$AZUREML_DATAREFERENCE_{self.data_reference_name} -> {self.local_path}"
