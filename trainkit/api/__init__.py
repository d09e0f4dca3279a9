"""trainkit's Python API (`import trainkit as tk`): workspaces, runs, sweeps, models and datasets as
objects, for notebooks and scripts. The command line is built on the same functions."""

__all__: list[str] = []   # the public API is trainkit's top level (`import trainkit as tk`); these modules serve it
