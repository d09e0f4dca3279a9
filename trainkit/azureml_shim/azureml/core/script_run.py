"""`from azureml.core.script_run import ScriptRun`: a script's run is a Run."""
from .run import Run as ScriptRun

__all__ = ["ScriptRun"]
