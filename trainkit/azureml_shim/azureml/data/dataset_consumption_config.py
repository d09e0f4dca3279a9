"""`DatasetConsumptionConfig`: how a run consumes a dataset (`ds.as_named_input('mnist').as_mount()`);
trainkit mounts the run's dataset as `${dataset.path}` (a folder of links to the verified files)."""
from __future__ import annotations


class DatasetConsumptionConfig:
    def __init__(self, name: str, dataset, mode: str = "direct", path_on_compute: str | None = None):
        self.name, self.dataset, self.mode, self.path_on_compute = name, dataset, mode, path_on_compute

    def as_mount(self, path_on_compute: str | None = None) -> "DatasetConsumptionConfig":
        return DatasetConsumptionConfig(self.name, self.dataset, "mount", path_on_compute)

    def as_download(self, path_on_compute: str | None = None) -> "DatasetConsumptionConfig":
        return DatasetConsumptionConfig(self.name, self.dataset, "download", path_on_compute)

    def __repr__(self) -> str:
        return f"DatasetConsumptionConfig:{self.name}"


__all__ = ["DatasetConsumptionConfig"]
