"""What trainkit's Azure ML SDK v1 layer shares: the trainkit workspace, Azure's status words,
settings, notes printed once per kernel and the one way to say "not supported". Not Azure's API
(a private module); nothing here imports TensorFlow or Hydra."""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from typing import NoReturn

DASHBOARD = "http://127.0.0.1:8265"    # `trainkit ui`: where get_portal_url() points
STATUS = {"queued": "Queued", "running": "Running", "completed": "Completed", "failed": "Failed",
          "cancelled": "Canceled", "pruned": "Canceled"}   # trainkit state -> Azure's (pruned: early-terminated)


@dataclass
class Settings:
    """`trainkit.azureml.settings`: how notebook submissions behave."""

    fix_scripts: bool = os.environ.get("TRAINKIT_AZUREML_FIX", "1") != "0"   # migrate's mechanical fixes on the run's code copy
    show_notes: bool = True                                                  # print each environment/fix note once


settings = Settings()
_shown: set[str] = set()


def tk_workspace(root: str | None = None):
    """trainkit's workspace ($TRAINKIT_WORKSPACE, else ~/.trainkit)."""
    from trainkit.api.workspace import Workspace

    return Workspace(root)


def unsupported(what: str, instead: str) -> NoReturn:
    """Raise NotImplementedError naming what trainkit does instead."""
    raise NotImplementedError(f"{what} is not supported by trainkit's Azure ML SDK v1 layer; "
                              f"the trainkit equivalent: {instead}")


def note(text: str) -> None:
    """Print a note once per kernel (a change made to what the notebook asked for)."""
    if text in _shown or not settings.show_notes:
        return
    _shown.add(text)
    print(f"trainkit: {text}", file=sys.stdout, flush=True)


def azure_status(state: str) -> str:
    return STATUS.get(state, state.capitalize())


def _refuse(owner: str, klass: type, name: str):
    for k in klass.__mro__:
        instead = vars(k).get("_unsupported", {}).get(name)
        if instead is not None:
            unsupported(f"{owner}.{name}", instead)
    raise AttributeError(f"{owner!r} object has no attribute {name!r}")


class _SurfaceType(type):
    """Class-level access too (`Datastore.register_azure_blob_container(...)` is a static method in v1)."""

    def __getattr__(cls, name: str):
        if name.startswith("__"):
            raise AttributeError(name)
        _refuse(cls.__name__, cls, name)


class Surface(metaclass=_SurfaceType):
    """A v1 class whose known-but-unsupported members raise NotImplementedError naming trainkit's
    equivalent (`_unsupported`: name -> equivalent); an unknown name stays an AttributeError."""

    _unsupported: dict[str, str] = {}

    def __getattr__(self, name: str):
        if name.startswith("__"):
            raise AttributeError(name)
        _refuse(type(self).__name__, type(self), name)
