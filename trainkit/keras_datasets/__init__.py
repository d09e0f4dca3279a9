"""`keras.datasets` offline: `entry.keras_datasets: {mnist: fashion_mnist}` makes a script's
`keras.datasets.mnist.load_data()` (and `tf.keras.datasets...`, Keras 3 or tf_keras) return that
trainkit dataset's arrays in Keras's shapes and dtypes, with no network.

Worker side (`prepare`, before the script starts): each named dataset (the run's own, or the newest
registered version of another) is read with trainkit's format readers and written once per
dataset version as `<workspace>/datasets/keras/<loader>-<digest>.npz`; the run records which
version answered which loader (status.json `keras_datasets`). Script side: `pythonpath/` goes on
the script's PYTHONPATH; its sitecustomize patches each `load_data` when Keras imports it, answers
the mapped ones from those files and turns a failed download of the others into one line naming
the URL and this option. Nothing here imports TensorFlow."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import DataError

if TYPE_CHECKING:
    import numpy as np

PATH = Path(__file__).resolve().parent / "pythonpath"   # on every script's PYTHONPATH
ENV = "TRAINKIT_KERAS_DATASETS"                          # JSON {loader: {"path": npz, "dataset": "name vN"}}


@dataclass(frozen=True)
class KerasShape:
    """What a Keras loader returns: x uint8 (N, *image), y uint8 (N, *label)."""

    image: tuple[int, ...]
    label: tuple[int, ...]
    classes: int


LOADERS = {"mnist": KerasShape((28, 28), (), 10), "fashion_mnist": KerasShape((28, 28), (), 10),
           "cifar10": KerasShape((32, 32, 3), (1,), 10), "cifar100": KerasShape((32, 32, 3), (1,), 100)}


def keras_arrays(loader: str, ds, version: dict) -> dict[str, np.ndarray]:
    """x_train, y_train, x_test, y_test of a dataset version as Keras's `loader` returns them
    (train: the train and validation files; test: the test files). DataError when its shapes,
    values or classes do not fit that loader."""
    import numpy as np

    from ..data.datasets import DatasetVersion

    dv, want = DatasetVersion.from_json(version), LOADERS[loader]
    fmt = ds.fmt
    if fmt.loads_splits:
        raise DataError(f"entry.keras_datasets.{loader}: dataset {dv.name} is read by its own loader (format "
                        f"{dv.format}); expected files trainkit reads (idx, npz, csv, parquet, image_folder, tfrecord)")
    by_role = fmt.split_arrays(dv.files, ds, dv.info)
    if "test" not in by_role or "train" not in by_role:
        raise DataError(f"entry.keras_datasets.{loader}: dataset {dv.name} v{dv.version} has roles {sorted(by_role)}; "
                        "expected train and test files (Keras's load_data returns both)")
    train = [by_role[r] for r in ("train", "validation") if r in by_role]
    x_train, y_train = (np.concatenate([p[i] for p in train]) for i in (0, 1))
    out = {}
    for split, (x, y) in {"train": (x_train, y_train), "test": by_role["test"]}.items():
        out[f"x_{split}"], out[f"y_{split}"] = as_keras(loader, want, dv, x, y)
    return out


def as_keras(loader: str, want: KerasShape, dv, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    import numpy as np

    where = f"entry.keras_datasets.{loader}: dataset {dv.name} v{dv.version}"
    if x[0].size != int(np.prod(want.image)):
        raise DataError(f"{where}: expected examples of shape {want.image} (Keras's {loader}), got {x.shape[1:]}")
    if x.size and (x.min() < 0 or x.max() > 255 or not np.array_equal(x, np.round(x))):
        raise DataError(f"{where}: expected whole pixel values 0..255 (Keras's uint8), got values in "
                        f"[{x.min()}, {x.max()}]")
    if y.size and (y.min() < 0 or y.max() >= want.classes):
        raise DataError(f"{where}: expected labels 0..{want.classes - 1}, got labels in [{y.min()}, {y.max()}]")
    return x.astype(np.uint8).reshape(len(x), *want.image), y.astype(np.uint8).reshape(len(y), *want.label)


def dataset_for(spec, name: str) -> tuple[object, dict]:
    """(DatasetConfig, registered version JSON) of a dataset named in entry.keras_datasets: the
    run's own dataset, else the newest version registered in the workspace."""
    from ..config.schema import DatasetConfig, from_dict
    from ..data.datasets import DatasetStore
    from ..errors import NotFoundError
    from ..records.workspace import WorkspacePaths

    if name == spec.dataset["name"]:
        return spec.cfg.dataset, spec.dataset
    try:
        dv = DatasetStore(WorkspacePaths(Path(spec.workspace))).get(name)
    except NotFoundError:
        raise DataError(f"entry.keras_datasets: dataset {name!r} is neither this run's dataset "
                        f"({spec.dataset['name']}) nor registered in workspace {spec.workspace}; expected "
                        f"dataset={name}, or `trainkit datasets register {name}` first") from None
    return from_dict(DatasetConfig, dv.config), dv.to_json()


def prepare(spec) -> tuple[dict, dict]:
    """({loader: {"path", "dataset"}} for the script's environment, {loader: name/version/digest}
    for the run's record) of entry.keras_datasets; each file is written once per dataset version."""
    from ..records.workspace import WorkspacePaths

    env, record = {}, {}
    for loader, name in (spec.cfg.entry.keras_datasets or {}).items():
        ds, version = dataset_for(spec, name)
        path = WorkspacePaths(Path(spec.workspace)).datasets / "keras" / f"{loader}-{version['digest'][:16]}.npz"
        if not path.is_file():
            write_npz(path, keras_arrays(loader, ds, version))
        env[loader] = {"path": str(path), "dataset": f"{version['name']} v{version['version']}"}
        record[loader] = {k: version[k] for k in ("name", "version", "digest")}
    return env, record


def write_npz(path: Path, arrays: dict) -> None:
    """Written whole under a temporary name, then renamed (ranks of one host may race: same content)."""
    import numpy as np

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp.npz")
    try:
        np.savez(tmp, **arrays)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)

__all__ = ['ENV', 'KerasShape', 'LOADERS', 'PATH', 'as_keras', 'dataset_for', 'keras_arrays', 'prepare', 'write_npz']
