"""`OutputFileDatasetConfig`: where a run writes files for later steps. Passed as an argument, it is
a local folder: on its datastore (`destination=(datastore, 'path')`), else in the workspace."""
from __future__ import annotations

from pathlib import Path

from .._tk import Surface

REGISTER = "Dataset.File.from_files(path=(datastore, 'path')).register(ws, name) once the run completed"


class OutputFileDatasetConfig(Surface):
    _unsupported = {"register_on_complete": REGISTER, "read_delimited_files": REGISTER, "read_parquet_files": REGISTER}

    def __init__(self, name: str | None = None, destination=None, source: str | None = None,
                 partition_format: str | None = None):
        self.name, self.destination, self.source = name or "output", destination, source

    @property
    def datastore(self):
        return self.destination[0] if self.destination else None

    @property
    def local_path(self) -> str:
        """The folder the script writes to (made when the run is submitted)."""
        if self.destination:
            folder = Path(self.destination[0].path(self.destination[1]).local_path)
        else:
            from .._tk import tk_workspace

            folder = tk_workspace().root / "azureml" / "outputs" / self.name
        folder.mkdir(parents=True, exist_ok=True)
        return str(folder)

    def as_upload(self, overwrite: bool = False, source_globs=None) -> "OutputFileDatasetConfig":
        return self

    def as_mount(self, disable_metadata_cache: bool = False) -> "OutputFileDatasetConfig":
        return self


__all__ = ["OutputFileDatasetConfig"]
