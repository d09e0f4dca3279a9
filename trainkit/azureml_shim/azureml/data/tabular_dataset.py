"""`from azureml.data.tabular_dataset import TabularDataset`."""
from ..core.dataset import TabularDataset

__all__ = ["TabularDataset"]
