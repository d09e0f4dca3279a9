"""Azure ML SDK v1's `azureml.data`: datasets, datastore paths and how runs consume them."""
from importlib import import_module

_WHERE = {"FileDataset": "file_dataset", "TabularDataset": "tabular_dataset", "DataPath": "datapath",
          "DataReference": "data_reference", "DatasetConsumptionConfig": "dataset_consumption_config",
          "DataPathComputeBinding": "datapath", "OutputFileDatasetConfig": "output_dataset_config"}

__all__ = list(_WHERE)


def __getattr__(name: str):
    if name in _WHERE:
        return getattr(import_module(f"{__name__}.{_WHERE[name]}"), name)
    raise AttributeError(f"module 'azureml.data' has no attribute {name!r}")
