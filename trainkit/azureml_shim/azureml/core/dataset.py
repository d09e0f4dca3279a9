"""Azure ML SDK v1's `Dataset` over trainkit's datasets: `Dataset.File.from_files(path=[urls or
datastore paths])` and `Dataset.Tabular.from_delimited_files(...)` describe files;
`.register(ws, name)` makes them a trainkit dataset (a config, then a version fetched and verified
through the mirrors, see azureml/_datasets.py); `Dataset.get_by_name(ws, name, version)` finds any
registered trainkit dataset; a run mounts one with `.as_named_input(n).as_mount()` (`${dataset.path}`)."""
from __future__ import annotations

import hashlib
from pathlib import Path

from .. import _datasets as store
from .._tk import Surface, note
from ..data.dataset_consumption_config import DatasetConsumptionConfig
from ..exceptions import UserErrorException

PANDAS_ONLY = "a tabular dataset's files read with pandas (ds.to_pandas_dataframe()), or dataset.features/label"


class AbstractDataset(Surface):
    """What File and Tabular datasets share: their files, registration, consumption by a run."""

    _tabular = False
    _unsupported = {"get_by_id": "Dataset.get_by_name(ws, name, version)", "unregister_all_versions":
                    "the dataset registry keeps every version (trainkit datasets show NAME)",
                    "add_tags": "a dataset config's description", "remove_tags": "a dataset config's description",
                    "get_profile": "trainkit datasets show NAME", "as_hdfs": "dataset.path (a local folder)",
                    "as_cache": "dataset.path (a local folder)", "filter": PANDAS_ONLY, "random_split": PANDAS_ONLY,
                    "time_between": PANDAS_ONLY, "time_before": PANDAS_ONLY, "time_after": PANDAS_ONLY,
                    "time_recent": PANDAS_ONLY, "with_timestamp_columns": PANDAS_ONLY, "to_spark_dataframe": PANDAS_ONLY,
                    "to_dask_dataframe": PANDAS_ONLY, "partition_by": PANDAS_ONLY}

    def __init__(self, urls: list[str], workspace=None, name: str | None = None, version: int | None = None,
                 option: str | None = None, description: str = "", dv=None, tags: dict | None = None):
        self._urls, self.workspace, self.name, self.version = list(urls), workspace, name, version
        self._option, self.description, self._dv, self.tags = option, description, dv, dict(tags or {})

    @property
    def id(self) -> str | None:
        return self._dv.digest[:32] if self._dv is not None else None

    @property
    def data_changed_time(self):
        return None

    # ------------------------------------------------------------------ registering
    def register(self, workspace, name: str, description: str | None = None, tags: dict | None = None,
                 create_new_version: bool = False):
        """A trainkit dataset `name`: its config written, its files fetched (mirrors first), verified
        and versioned by content (the same files register once)."""
        root, option = workspace._tk.root, store.option_of(name)
        data = store.config_of(option, self._urls, description or self.description, self._tabular, self._columns())
        old = store.read_config(root, option)
        if old is not None and not store.same_definition(old, data) and not create_new_version:
            raise UserErrorException(f"There is already a dataset registered under name {name!r} with other files "
                                     "(create_new_version=True registers these as its next version)")
        if data.get("label"):
            note(store.LABEL_NOTE.format(name=name, label=data["label"], path=store.config_path(root, option)))
        store.write_config(root, option, data, f"Registered from a notebook as Azure ML dataset {name!r}.")
        dv = store.register_version(root, option)
        return type(self)(self._urls, workspace, name, dv.version, option, data["description"], dv, tags)

    def _columns(self) -> list[str] | None:
        return None

    # ------------------------------------------------------------------ consuming
    def as_named_input(self, name: str) -> DatasetConsumptionConfig:
        return DatasetConsumptionConfig(name, self)

    def as_mount(self, path_on_compute: str | None = None) -> DatasetConsumptionConfig:
        return DatasetConsumptionConfig(self.name or "input", self, "mount", path_on_compute)

    def as_download(self, path_on_compute: str | None = None) -> DatasetConsumptionConfig:
        return DatasetConsumptionConfig(self.name or "input", self, "download", path_on_compute)

    def _registered(self, workspace) -> tuple[str, int]:
        """(config option, version) a run mounts: registered now under a name of its own when it was not."""
        if self._option is None:
            digest = hashlib.sha256("\n".join(sorted(self._urls)).encode()).hexdigest()[:10]
            done = self.register(workspace, f"dataset-{digest}")
            note(f"an unregistered dataset is passed to a run: registered as trainkit dataset {done._option}")
            self._option, self.version, self._dv, self.workspace = done._option, done.version, done._dv, workspace
        return self._option, self.version

    # ------------------------------------------------------------------ files
    def to_path(self) -> list[str]:
        """The dataset's files, relative to its root (as Azure lists them, with a leading '/')."""
        if self._dv is not None:
            from trainkit.api.datasets import _files

            return ["/" + rel for rel, _, _ in _files(self._dv)]
        return ["/" + u.rstrip("/").rsplit("/", 1)[-1] for u in self._urls]

    def download(self, target_path: str | None = None, overwrite: bool = False, ignore_not_found: bool = False) -> list[str]:
        """Copy the files into `target_path` (the cached, verified copies of a registered version)."""
        target = Path(target_path or ".")
        if self._dv is not None:
            from trainkit.api.datasets import download
            from trainkit.errors import UsageError

            try:
                return [str(p) for p in download(self._dv, target, overwrite)]
            except UsageError as e:
                raise UserErrorException(str(e)) from None
        clash = [u for u in self._urls if (target / u.rsplit("/", 1)[-1]).exists()]
        if clash and not overwrite:
            raise UserErrorException(f"{len(clash)} target file(s) exist in {target}; pass overwrite=True")
        root = self.workspace._tk.root if self.workspace is not None else _default_root()
        return [str(p) for p in store.fetch_urls(self._urls, target, root)]

    def mount(self, mount_point: str | None = None, **kwargs) -> "MountContext":
        return MountContext(self, mount_point)

    def __repr__(self) -> str:
        kind = "TabularDataset" if self._tabular else "FileDataset"
        head = {"source": self._urls[:4] + (["..."] if len(self._urls) > 4 else [])}
        if self.name:
            head.update(registration={"name": self.name, "version": self.version, "workspace": "trainkit"})
        import json

        return f"{kind}\n{json.dumps(head, indent=2)}"


class FileDataset(AbstractDataset):
    """Files of any format; a run sees them as one folder."""


class TabularDataset(AbstractDataset):
    """Delimited (CSV) or Parquet files read as one table."""

    _tabular = True

    def _columns(self) -> list[str] | None:
        try:
            return list(self.take(1).columns)
        except Exception:   # noqa: BLE001 - not readable yet: the config is written without a label
            return None

    def to_pandas_dataframe(self, on_error: str = "null", out_of_range_datetime: str = "null"):
        import tempfile

        import pandas as pd

        with tempfile.TemporaryDirectory() as tmp:
            paths = self.download(tmp, overwrite=True)
            frames = [pd.read_parquet(p) if p.endswith(".parquet") else pd.read_csv(p) for p in sorted(paths)]
        return pd.concat(frames, ignore_index=True)

    def take(self, count: int):
        return _Table(self.to_pandas_dataframe().head(count))

    def drop_columns(self, columns):
        raise NotImplementedError(f"TabularDataset.drop_columns: {PANDAS_ONLY}")

    def keep_columns(self, columns, validate: bool = False):
        raise NotImplementedError(f"TabularDataset.keep_columns: {PANDAS_ONLY}")


class _Table:
    def __init__(self, frame):
        self.frame, self.columns = frame, list(frame.columns)

    def to_pandas_dataframe(self):
        return self.frame


class MountContext:
    """`ds.mount()`: a folder holding the dataset's files while it is used."""

    def __init__(self, dataset: AbstractDataset, mount_point: str | None):
        import tempfile

        self.dataset, self.mount_point = dataset, mount_point or tempfile.mkdtemp(prefix="trainkit-mount-")

    def start(self) -> None:
        self.dataset.download(self.mount_point, overwrite=True)

    def stop(self) -> None:
        import shutil

        shutil.rmtree(self.mount_point, ignore_errors=True)

    def __enter__(self) -> "MountContext":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def _default_root() -> Path:
    from .._tk import tk_workspace

    return tk_workspace().root


def _urls(path) -> list[str]:
    """URLs of `path`: web or fsspec URLs as given, local or datastore paths as file:// URLs of their files."""
    items = path if isinstance(path, list) else [path]
    out: list[str] = []
    for item in items:
        if isinstance(item, tuple) and len(item) == 2:
            item = item[0].path(item[1])
        local = getattr(item, "local_path", None)
        text = str(local if local is not None else item)
        out += [text] if "://" in text else _local(text)
    if not out:
        raise UserErrorException(f"path: expected URLs or datastore paths with files, got {path!r}")
    return out


def _local(text: str) -> list[str]:
    """file:// URLs of a local file, the files and folders in a folder, or a glob's matches."""
    p = Path(text)
    if p.is_dir():
        return [f"file://{c.resolve()}" + ("/" if c.is_dir() else "") for c in sorted(p.iterdir())]
    if any(ch in text for ch in "*?["):
        base = Path(text.split("*", 1)[0]).parent if "*" in text else p.parent
        pattern = str(Path(text).relative_to(base)) if "*" in text else p.name
        return [f"file://{c.resolve()}" for c in sorted(base.glob(pattern.replace("**/", ""))) if c.is_file()]
    if p.is_file():
        return [f"file://{p.resolve()}"]
    raise UserErrorException(f"path {text!r}: no such file or folder (a datastore path needs an upload first)")


class FileDatasetFactory:
    @staticmethod
    def from_files(path, validate: bool = True, partition_format=None, is_file: bool = False) -> FileDataset:
        return FileDataset(_urls(path))


class TabularDatasetFactory:
    @staticmethod
    def from_delimited_files(path, validate: bool = True, include_path: bool = False, infer_column_types: bool = True,
                             set_column_types=None, separator: str = ",", header=True, **kwargs) -> TabularDataset:
        return TabularDataset(_urls(path))

    @staticmethod
    def from_parquet_files(path, validate: bool = True, include_path: bool = False, set_column_types=None,
                           partition_format=None) -> TabularDataset:
        return TabularDataset(_urls(path))

    @staticmethod
    def from_sql_query(*args, **kwargs):
        raise NotImplementedError("Dataset.Tabular.from_sql_query: export the table to CSV or Parquet files and use "
                                  "them as the dataset's sources (format csv|parquet)")


class Dataset:
    """Azure ML SDK v1's entry point: `Dataset.File`, `Dataset.Tabular`, `Dataset.get_by_name`."""

    File = FileDatasetFactory
    Tabular = TabularDatasetFactory

    @staticmethod
    def get_by_name(workspace, name: str, version="latest") -> AbstractDataset:
        """A registered trainkit dataset (a notebook's, or one of `trainkit datasets register`)."""
        root, option = workspace._tk.root, store.option_of(name)
        versions = store.versions(root, option)
        if version not in (None, "latest"):
            versions = [v for v in versions if v.version == int(version)]
        if not versions:
            raise UserErrorException(f"Cannot find dataset registered with name '{name}' (version: {version}) in the "
                                     f"workspace. Registered: {', '.join(sorted(registered(workspace))) or 'none'}")
        dv = versions[-1]
        urls = [f"{dv.sources[0].rstrip('/')}/{e['name']}" for e in dv.entries] if dv.sources else []
        kind = TabularDataset if dv.format in ("csv", "parquet") else FileDataset
        return kind(urls, workspace, name, dv.version, option, dv.description, dv)

    @staticmethod
    def get_all(workspace) -> dict:
        return registered(workspace)

    def __init__(self, *args, **kwargs):
        raise NotImplementedError("Dataset(...): use Dataset.File.from_files(path) or Dataset.Tabular.from_delimited_files")


def registered(workspace) -> dict:
    """ws.datasets: {name: the latest version} of every registered trainkit dataset."""
    from trainkit.data.datasets import DatasetStore

    names = DatasetStore(workspace._tk.paths).names()
    return {n: Dataset.get_by_name(workspace, n) for n in names}


__all__ = ["Dataset", "FileDataset", "TabularDataset"]
