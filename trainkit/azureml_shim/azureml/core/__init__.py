"""`from azureml.core import Run` for scripts written for Azure ML SDK v1, run by trainkit."""
from .run import Run

__all__ = ["Run"]
