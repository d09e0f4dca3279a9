"""`from azureml.data.datapath import DataPath, DataPathComputeBinding`."""
from __future__ import annotations

from .data_reference import DataReference


class DataPath:
    """A path on a datastore (a folder of the trainkit workspace)."""

    def __init__(self, datastore=None, path_on_datastore: str | None = None, name: str | None = None):
        self.datastore, self.path_on_datastore, self.name = datastore, path_on_datastore, name

    def create_data_reference(self, data_reference_name: str | None = None, datapath_compute_binding=None):
        mode = getattr(datapath_compute_binding, "mode", "mount")
        return DataReference(self.datastore, data_reference_name or self.name, self.path_on_datastore, mode)

    @property
    def local_path(self) -> str:
        return DataReference(self.datastore, self.name, self.path_on_datastore).local_path

    def __str__(self) -> str:
        return self.local_path


class DataPathComputeBinding:
    def __init__(self, mode: str = "mount", path_on_compute: str | None = None, overwrite: bool = False):
        self.mode, self.path_on_compute, self.overwrite = mode, path_on_compute, overwrite


__all__ = ["DataPath", "DataPathComputeBinding"]
