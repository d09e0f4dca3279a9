"""Where trainkit's `azureml` package is (`PATH`: trainkit/azureml_shim, which goes first on the
path), whether a real Azure ML SDK is installed instead (`real_azureml`; then the shim is never
used), and putting the shim on this interpreter's path (`activate`). A leaf: the shim's own
modules import trainkit's API; whoever only needs to find or activate them imports this."""
from __future__ import annotations

import sys
from pathlib import Path

PATH = Path(__file__).resolve().parent / "azureml_shim"   # what goes on PYTHONPATH / sys.path
ENV = "TRAINKIT_AZUREML"                 # "1": every Python process started with it gets the shim (trainkit_azureml.pth)


def foreign(locations) -> list[str]:
    """The locations of an `azureml` package that are not this shim's."""
    own = (PATH / "azureml").resolve()
    return [str(p) for p in locations if p and Path(p).resolve() != own]


def real_azureml() -> list[str]:
    """Where a real Azure ML SDK's `azureml` package is (imported, or importable from sys.path
    without this shim); [] when there is none."""
    import importlib.machinery

    loaded = sys.modules.get("azureml")
    if loaded is not None:
        return foreign(list(getattr(loaded, "__path__", None) or [getattr(loaded, "__file__", None)]))
    path = [p for p in sys.path if Path(p or ".").resolve() != PATH]
    spec = importlib.machinery.PathFinder.find_spec("azureml", path)
    return foreign(list(spec.submodule_search_locations or [spec.origin])) if spec else []


def activate() -> list[str]:
    """Put the shim first on sys.path for this interpreter, unless a real azureml is installed:
    then nothing changes and its locations are returned ([]: activated)."""
    real = real_azureml()
    if real:
        return real
    if str(PATH) not in sys.path:
        sys.path.insert(0, str(PATH))
    return []


def refusal(real: list[str]) -> str:
    return (f"a real Azure ML SDK is installed ({', '.join(real)}): trainkit does not shadow it, so `import azureml` "
            "stays Azure's. Run this notebook on trainkit in an environment without azureml-core "
            "(pip uninstall azureml-core), or keep using Azure ML there.")


__all__ = ['ENV', 'PATH', 'activate', 'foreign', 'real_azureml', 'refusal']
