"""The `azureml` package trainkit gives Azure ML SDK v1 code: this directory goes first on the
path, so `from azureml.core import Run` (a script under `entry.azureml_compat=true`) and the control
plane a notebook uses (`%load_ext trainkit.azureml`, or `TRAINKIT_AZUREML=1`) are trainkit's. Never
used when a real azureml package is installed: `trainkit.shimpath.real_azureml()` finds one, wherever
it is on the path."""
from __future__ import annotations

__all__: list[str] = []   # the package is the directory put on the path; its helpers are trainkit.shimpath
