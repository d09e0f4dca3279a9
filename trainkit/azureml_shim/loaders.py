"""The loader of a notebook's FileDataset whose files trainkit cannot read as examples (format
custom): scripts read the files themselves through `${dataset.path}`; trainkit itself only needs
examples to check a registered model, and says so here."""
from __future__ import annotations


def files_only(files: dict, **kwargs) -> dict:
    from ..errors import DataError

    names = [p.rsplit("/", 1)[-1] for paths in files.values() for p in paths][:5]
    raise DataError(f"this dataset's files ({', '.join(names)}) are not examples trainkit can read: to register a "
                    "model from its run, save representative inputs at outputs/parity_inputs.npy in the script, or "
                    "give the dataset a format (idx, csv, parquet, npz, image_folder, tfrecord) or a loader")
