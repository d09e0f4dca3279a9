"""Azure ML SDK v1's `Experiment`: a name runs are grouped under (trainkit's run.experiment).
`submit(config)` takes a ScriptRunConfig, a HyperDriveConfig or an `azureml.train.dnn` estimator;
`start_logging()` records an interactive run of the notebook itself."""
from __future__ import annotations

import os
import re
import socket

from .._tk import Surface, unsupported


class Experiment(Surface):
    """The runs of one name in the trainkit workspace."""

    _unsupported = {"archive": "trainkit runs delete RUN (per run)", "reactivate": "experiments are names of runs",
                    "delete": "trainkit runs delete RUN (per run)", "from_directory": "Experiment(ws, name)",
                    "set_tags": "run tags (exp.submit(config, tags=...))", "tag": "run tags (exp.submit(config, tags=...))",
                    "remove_tags": "run tags (exp.submit(config, tags=...))"}

    def __init__(self, workspace, name: str, _skip_name_validation: bool = False, _id=None, _archived_time=None,
                 _create_in_cloud: bool = True, _experiment_dto=None, **kwargs):
        self.workspace, self.name = workspace, name
        self.id, self.archived_time, self.tags = name, None, {}

    @property
    def _trainkit_name(self) -> str:
        """The experiment's name as trainkit's run.experiment (letters, digits, '_', '.', '-')."""
        return re.sub(r"[^A-Za-z0-9_.-]+", "-", self.name).strip("-._") or "experiment"

    def submit(self, config, tags: dict | None = None, **kwargs):
        """Start `config` (ScriptRunConfig, HyperDriveConfig, estimator) as trainkit run(s); returns its Run."""
        start = getattr(config, "_submit", None)
        if start is None:
            unsupported(f"Experiment.submit({type(config).__name__})", "ScriptRunConfig, HyperDriveConfig or "
                        "azureml.train.dnn.TensorFlow (pipelines: one run per step, or a sweep)")
        return start(self, dict(tags or {}))

    def get_runs(self, type=None, tags=None, properties=None, include_children: bool = False):
        """The experiment's runs, newest first."""
        from . import Run   # Run and Experiment refer to each other, as in Azure's API: through the package

        for api in reversed(self.workspace._tk.runs(experiment=self._trainkit_name)):
            if _has_tags(api.tags, tags):
                yield Run._of(api=api, experiment=self)

    @staticmethod
    def list(workspace, experiment_name: str | None = None, view_type: str = "ActiveOnly", tags=None) -> list:
        found = workspace.experiments
        return [e for n, e in found.items() if experiment_name in (None, n)]

    def start_logging(self, *args, snapshot_directory: str | None = None, outputs=None, **kwargs):
        """An interactive run of this notebook: what it logs is kept as a trainkit run of this experiment
        until `run.complete()` (or the end of a `with` block)."""
        from trainkit.records.runs import new_run_id, write_status
        from trainkit.records.workspace import RunPaths

        from . import Run

        run_id = new_run_id()
        paths = RunPaths(self.workspace._tk.paths.run_dir(self._trainkit_name, run_id))
        (paths.root / "outputs").mkdir(parents=True, exist_ok=True)
        write_status(paths, "running", run_id=run_id, experiment=self._trainkit_name, interactive=True,
                     pid=os.getpid(), host=socket.gethostname(), tags={}, created=paths.root.stat().st_mtime)
        return Run._of(api=self.workspace._tk.get_run(run_id), experiment=self)

    def __repr__(self) -> str:
        return f"Experiment(Name: {self.name},\nWorkspace: {self.workspace.name})"

    def _repr_html_(self) -> str:
        from .._display import table

        return table({"Name": self.name, "Workspace": self.workspace.name, "Runs": "trainkit runs list"})

    def __eq__(self, other) -> bool:
        return isinstance(other, Experiment) and (other.workspace, other.name) == (self.workspace, self.name)

    def __hash__(self) -> int:
        return hash((self.workspace, self.name))


def _has_tags(have: dict, wanted) -> bool:
    """Azure's tag filter: a tag name (present), or {name: value} (all equal)."""
    if not wanted:
        return True
    if isinstance(wanted, str):
        return wanted in have
    return all(k in have and (v is None or str(have[k]) == str(v)) for k, v in wanted.items())


def end_interactive(run_dir, state: str, reason: str | None = None) -> None:
    """An interactive run ends (complete() / fail())."""
    from trainkit.records.runs import write_status
    from trainkit.records.workspace import RunPaths

    write_status(RunPaths(run_dir), state, exit_reason=reason or state)


__all__ = ["Experiment"]
