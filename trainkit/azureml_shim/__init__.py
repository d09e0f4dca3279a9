"""The `azureml` package a script sees under `entry.azureml_compat=true`: this directory goes first
on the script's PYTHONPATH, so `from azureml.core import Run` (or `from azureml.core.run import
Run`) gets trainkit's run. Never used when a real azureml package is installed."""

from pathlib import Path

PATH = Path(__file__).resolve().parent   # what goes on PYTHONPATH
