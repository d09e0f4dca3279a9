"""Azure ML SDK v1 notebooks on trainkit: add one first cell

    %load_ext trainkit.azureml

(or start the kernel with TRAINKIT_AZUREML=1) and `import azureml...` is trainkit's implementation of
the v1 control plane for that kernel: Workspace, Experiment, ScriptRunConfig, Environment, Dataset,
ComputeTarget, HyperDrive, RunDetails, all running against the trainkit workspace
($TRAINKIT_WORKSPACE, else ~/.trainkit) as ordinary trainkit runs and sweeps. A real azureml package
installed in the kernel is never shadowed: loading the extension then stops with a message.

`trainkit.azureml.settings` (after activation): `fix_scripts` (migrate's mechanical fixes on each
run's copy of the script, default on), `show_notes` (print each change once)."""
from __future__ import annotations

from importlib import import_module

from .shimpath import activate as _activate, refusal


class RealAzureMLInstalled(RuntimeError):
    """A real Azure ML SDK is installed in this kernel: trainkit does not shadow it."""


def load_ipython_extension(ipython=None) -> None:
    """`%load_ext trainkit.azureml`."""
    activate()


def activate() -> None:
    """`import azureml` is trainkit's from now on in this interpreter; RealAzureMLInstalled when a
    real azureml package is installed (nothing changed)."""
    real = _activate()
    if real:
        raise RealAzureMLInstalled(refusal(real))
    ws = import_module("azureml._tk").tk_workspace()
    print(f"trainkit: `azureml` is trainkit's Azure ML SDK v1 layer in this kernel (workspace {ws.root})")


def __getattr__(name: str):
    if name == "settings":
        return import_module("azureml._tk").settings
    raise AttributeError(f"module 'trainkit.azureml' has no attribute {name!r}")
