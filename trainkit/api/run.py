"""`trainkit.Run`: one run of a workspace, from Python (Azure ML's `Run` after `exp.submit(...)`)."""
from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

from ..errors import RunFailed

BOOKKEEPING = ("epoch", "step", "epoch_time_s", "time")


class Run:
    """A run's record and its job: status, logs, metrics, files, cancel, model registration.

    Get one from `trainkit.submit(...)`, `Workspace.get_run(id)` or `Workspace.runs(...)`. Every
    property reads the record afresh, so a handle on a running run stays current."""

    def __init__(self, workspace, run_dir: Path):
        """`workspace`: the trainkit.Workspace the run belongs to; `run_dir`: its record."""
        self.workspace = workspace
        self.path = Path(run_dir)

    # ------------------------------------------------------------------ identity and state
    @property
    def id(self) -> str:
        """The run id (also its job id), e.g. 20261202-101500-ab12cd."""
        return self.path.name

    @property
    def name(self) -> str:
        """The run's name (run.name, Azure's display_name): given at submit, else <experiment>-<n>."""
        return self.record.get("name") or ""

    @property
    def experiment(self) -> str:
        """The experiment the run belongs to (run.experiment)."""
        return self.path.parent.parent.name

    @property
    def job(self):
        """The run's Job handle (trainkit.compute.Job), whatever compute target it runs on."""
        from ..compute import job_for

        return job_for(self.path)

    @property
    def status(self) -> str:
        """queued | running | completed | failed | cancelled | pruned."""
        return self.job.state().name

    @property
    def reason(self) -> str | None:
        """Why an ended run ended as it did (a failure's message)."""
        state = self.job.state()
        return state.reason if state.done else None

    @property
    def record(self) -> dict:
        """The run's status.json as written by trainkit (started, ended, dataset, final metrics...)."""
        from ..fsutil import read_json
        from ..records.workspace import RunPaths

        return read_json(RunPaths(self.path).status, {}) or {}

    @property
    def tags(self) -> dict:
        """The run's tags: run.tags of its config plus what its script added (run.tag)."""
        from ..records.runs import run_tags

        return run_tags(self.path, self.record)

    @property
    def params(self) -> dict:
        """The parameters the run's script logged (mlflow.log_param / log_params), by name."""
        from ..fsutil import read_json
        from ..records.workspace import RunPaths

        return read_json(RunPaths(self.path).params, {}) or {}

    @property
    def config(self) -> dict:
        """The run's fully resolved config."""
        from ..fsutil import read_json
        from ..records.workspace import RunPaths

        return (read_json(RunPaths(self.path).spec) or {}).get("config", {})

    @property
    def duration_s(self) -> float | None:
        st = self.record
        if not st.get("started"):
            return None
        return (st.get("ended") or time.time()) - st["started"]

    # ------------------------------------------------------------------ waiting and control
    def wait(self, show_output: bool = False, timeout: float | None = None, poll_s: float = 0.5) -> "Run":
        """Block until the run ended (Azure ML's wait_for_completion). `show_output` streams its
        console as it grows. Raises RunFailed when it failed or was cancelled, TimeoutError after
        `timeout` seconds (the run keeps running)."""
        job = self.job
        deadline = None if timeout is None else time.monotonic() + timeout
        if show_output:
            for text in job.logs(follow=True, poll_s=poll_s, timeout=timeout):
                sys.stdout.write(text)
                sys.stdout.flush()
        state = job.wait(timeout=None if deadline is None else max(0.0, deadline - time.monotonic()), poll_s=poll_s)
        if state.name in ("failed", "cancelled"):
            raise RunFailed(f"run {self.id} {state.name}: {state.reason}")
        return self

    def cancel(self) -> "Run":
        """Stop the run and all its processes (any compute target)."""
        self.job.cancel()
        return self

    def logs(self, rank: int | None = None) -> str:
        """What the run printed: every rank prefixed (rank None), or one rank's own output."""
        return "".join(self.job.logs(rank=rank))

    # ------------------------------------------------------------------ results
    def metrics(self) -> dict:
        """The last value of every metric: the run's final metrics (test_*, the last epoch's), or
        while it runs, the last epoch's (as `trainkit runs show --json` reports them)."""
        final = dict(self.record.get("final_metrics") or {})
        if final:
            return final
        history = self.history()
        return {k: v for k, v in (history[-1] if history else {}).items() if k != "epoch_time_s"}

    def history(self, as_frame: bool = False):
        """One dict per epoch (trainkit's loop) or per logged step (a script); `as_frame`: a pandas DataFrame."""
        from ..records.runs import read_history

        rows = read_history(self.path)
        if as_frame:
            import pandas as pd

            return pd.DataFrame(rows)
        return rows

    def files(self) -> list[str]:
        """The run's files (paths inside it; the source snapshot left out, links never followed)."""
        from ..records.runs import run_files

        return sorted(str(p.relative_to(self.path)) for p in run_files(self.path)
                      if p.relative_to(self.path).parts[0] != "source")

    def download(self, prefix: str = "outputs", to: str | Path = ".", strip_prefix: bool = True,
                 overwrite: bool = False) -> list[Path]:
        """Copy the run's files under `prefix` into `to` (Azure ML's download_files(prefix,
        output_directory, append_prefix=False)); returns the files written."""
        from ..records.runs import download

        return download(self.path, self.id, prefix, Path(to), strip_prefix, overwrite,
                        hint="pass overwrite=True or another `to`")

    def register_model(self, name: str, path: str | None = None, tags: dict | None = None,
                       aliases: list[str] | tuple[str, ...] = (), description: str = ""):
        """Register the model this run saved (default: outputs/model/model.keras, else the
        script's entry.model_path) with its lineage: run id, dataset name/version/digest, config
        hash. Exported to ONNX and checked on the run's own test split."""
        from ..registry.publish import register_from_run
        from ..registry.store import raise_if_failed
        from .models import ModelVersion

        entry = register_from_run(self.workspace.registry, self.path, name, path, tags=dict(tags or {}),
                                  aliases=list(aliases), description=description)
        raise_if_failed(entry)
        return ModelVersion(self.workspace, entry["name"], entry["version"])

    def export_mlflow(self, tracking_uri: str) -> dict:
        """Export the run to an MLflow tracking server: parameters, metric histories (steps and
        timestamps), tags, outputs/ and the registered model as a model version. Exporting again
        updates the same MLflow run (tag trainkit.run_id), never a second one."""
        from ..tracking.export import export_run

        return export_run(self, tracking_uri)

    def get(self, key: str) -> Any:
        """One value by its filter key (metrics.X, tags.X, config.a.b, status, experiment, ...)."""
        head, _, rest = key.partition(".")
        if head == "metrics":
            return self.metrics().get(rest)
        if head == "tags":
            return self.tags.get(rest)
        if head in ("config", "params"):
            node: Any = self.config
            for part in rest.split("."):
                node = node.get(part) if isinstance(node, dict) else None
            return node
        st = self.record
        simple = {"id": self.id, "name": st.get("name") or "", "experiment": self.experiment, "started": st.get("started"), "ended": st.get("ended"),
                  "compute": self.job.kind.name,
                  "dataset": (st.get("dataset") or {}).get("name"),
                  "dataset.version": (st.get("dataset") or {}).get("version")}
        if key in simple:
            return simple[key]
        if key == "status":
            return self.status
        if key == "duration":
            return self.duration_s
        return None

    def __repr__(self) -> str:
        return f"Run(id={self.id!r}, experiment={self.experiment!r}, status={self.status!r})"

    def __eq__(self, other) -> bool:
        return isinstance(other, Run) and other.path == self.path

    def __hash__(self) -> int:
        return hash(self.path)

    def _repr_html_(self) -> str:
        from .notebook import run_html

        return run_html(self)
