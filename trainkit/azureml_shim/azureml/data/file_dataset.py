"""`from azureml.data.file_dataset import FileDataset`."""
from ..core.dataset import FileDataset

__all__ = ["FileDataset"]
