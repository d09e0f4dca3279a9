"""`HyperDriveRun`: a trainkit sweep (`trainkit.Sweep`) as Azure's HyperDrive run: its status, its
trials as child runs, the best of them by the primary metric (its best logged value, by the goal)."""
from __future__ import annotations

import json
import os
import signal

from ..._tk import DASHBOARD, Surface
from ...exceptions import ActivityFailedException, UserErrorException

ONLY_TRIALS = "the trials' runs (htr.get_children()); a sweep has no record of its own to log to"


class HyperDriveRun(Surface):
    """A HyperDrive run: `HyperDriveRun(experiment, run_id)` or what `exp.submit(hd_config)` returns."""

    _type = "hyperdrive"
    _unsupported = {"log": ONLY_TRIALS, "log_list": ONLY_TRIALS, "log_row": ONLY_TRIALS, "log_table": ONLY_TRIALS,
                    "log_image": ONLY_TRIALS, "upload_file": ONLY_TRIALS, "register_model":
                    "htr.get_best_run_by_primary_metric().register_model(...)", "get_diagnostics":
                    "the sweep's log (trainkit sweeps show SWEEP) and each trial's logs",
                    "fail": "cancel()", "download_files": "a trial's run.download_files(...)"}

    def __init__(self, experiment, run_id: str, hyperdrive_config=None, **kwargs):
        try:
            sweep = experiment.workspace._tk.get_sweep(run_id)
        except Exception as e:   # noqa: BLE001 - trainkit's NotFound, as Azure's error type
            raise UserErrorException(f"HyperDrive run {run_id!r}: {e}") from None
        self._init(experiment, sweep, hyperdrive_config)

    @classmethod
    def _of(cls, experiment, sweep, config=None) -> "HyperDriveRun":
        run = cls.__new__(cls)
        run._init(experiment, sweep, config)
        return run

    def _init(self, experiment, sweep, config) -> None:
        self.experiment, self._sweep, self._config = experiment, sweep, config
        self._cancelled = False
        saved = self._record()
        self._metric = saved.get("primary_metric") or (config.primary_metric_name if config else "val_accuracy")
        self._goal = saved.get("goal") or (config.primary_metric_goal.value if config else "MAXIMIZE")
        self._options = saved.get("options") or {}

    def _record(self) -> dict:
        try:
            return json.loads((self._sweep.path / "azureml.json").read_text())
        except (OSError, ValueError):
            return {}

    # ------------------------------------------------------------------ identity and state
    id = property(lambda self: self._sweep.id)
    type = property(lambda self: self._type)
    status = property(lambda self: self.get_status())

    def get_status(self) -> str:
        proc = self._sweep.process
        if proc is not None and proc.poll() is None or proc is None and not self._sweep.done():
            return "Running"
        if self._cancelled:
            return "Canceled"
        states = [c.get_status() for c in self.get_children()]
        return "Completed" if "Completed" in states else "Failed"

    def wait_for_completion(self, show_output: bool = False, wait_post_processing: bool = False,
                            raise_on_error: bool = True) -> dict:
        from ...core.run import streaming, summary

        if show_output:
            streaming(self, "azureml-logs/hyperdrive.txt")
        self._sweep.wait(show_output=show_output)
        if show_output:
            summary(self)
        if raise_on_error and self.get_status() == "Failed":
            raise ActivityFailedException(f"HyperDrive run {self.id} failed: no trial completed "
                                          f"(see the sweep's log and `trainkit sweeps show {self.id}`)")
        return self.get_details()

    def cancel(self) -> bool:
        """Stop the search and every trial still running."""
        proc = self._sweep.process
        if proc is not None and proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)   # the sweep runs in its own session (tk.sweep, wait=False)
        for child in self.get_children():
            if child.get_status() in ("Queued", "Running"):
                child.cancel()
        self._cancelled = True
        return True

    def get_details(self) -> dict:
        best = self.get_best_run_by_primary_metric()
        return {"runId": self.id, "status": self.get_status(), "target": "trainkit",
                "properties": {"primary_metric_config": json.dumps({"name": self._metric, "goal": self._goal.lower()}),
                               "best_child_run_id": best.id if best is not None else None,
                               "score": str(self._score(best)) if best is not None else None},
                "runDefinition": {"study": self._record().get("study"), "sweep": str(self._sweep.path)}}

    def get_portal_url(self) -> str:
        return f"{DASHBOARD}/sweeps/{self.id}"

    # ------------------------------------------------------------------ trials
    def get_children(self, recursive: bool = False, tags=None, properties=None, type=None, status=None,
                     **kwargs) -> list:
        from ...core.run import Run

        children = [Run._of(api=r, experiment=self.experiment) for r in reversed(self._sweep.runs())]
        return [c for c in children if status is None or c.get_status() == status]

    def get_metrics(self, name: str | None = None, recursive: bool = False, run_type=None, populate: bool = False) -> dict:
        """{child run id: its metrics}."""
        return {c.id: c.get_metrics(name) for c in self.get_children()}

    def get_hyperparameters(self) -> dict:
        """{child run id: its swept arguments as JSON (keys as in the parameter space)}."""
        return {c.id: json.dumps(self._hyperparameters(c)) for c in self.get_children()}

    def _hyperparameters(self, child) -> dict:
        params = (child._api.config.get("params") or {})
        return {option: params.get(pname) for pname, option in self._options.items()}

    def _score(self, child):
        """The child's best logged value of the primary metric (by the goal); None when it logged none."""
        value = child.get_metrics(self._metric).get(self._metric)
        values = [v for v in (value if isinstance(value, list) else [value]) if isinstance(v, (int, float))]
        if not values:
            return None
        return max(values) if self._goal == "MAXIMIZE" else min(values)

    def get_children_sorted_by_primary_metric(self, top: int = 0, reverse: bool = False,
                                              discard_no_metric: bool = False) -> list[dict]:
        rows = [{"run_id": c.id, "hyperparameters": json.dumps(self._hyperparameters(c)),
                 "best_primary_metric": self._score(c), "status": c.get_status()} for c in self.get_children()]
        scored = sorted((r for r in rows if r["best_primary_metric"] is not None),
                        key=lambda r: r["best_primary_metric"], reverse=(self._goal == "MAXIMIZE") != reverse)
        rest = [] if discard_no_metric else [r for r in rows if r["best_primary_metric"] is None]
        out = scored + rest
        return out[:top] if top else out

    def get_best_run_by_primary_metric(self, include_failed: bool = True, include_canceled: bool = True,
                                       include_resume_from_runs: bool = True):
        """The trial with the best primary metric (early-terminated and failed ones included unless excluded)."""
        allowed = {"Completed"} | ({"Failed"} if include_failed else set()) | ({"Canceled"} if include_canceled else set())
        scored = [(self._score(c), c) for c in self.get_children() if c.get_status() in allowed]
        scored = [(s, c) for s, c in scored if s is not None]
        if not scored:
            return None
        pick = max if self._goal == "MAXIMIZE" else min
        return pick(scored, key=lambda sc: sc[0])[1]

    # ------------------------------------------------------------------ tags and display
    def tag(self, key: str, value=None) -> None:
        self._write_tags({**self.get_tags(), str(key): "" if value is None else str(value)})

    def get_tags(self) -> dict:
        return dict(self._record().get("tags") or {})

    def _write_tags(self, tags: dict) -> None:
        record = {**self._record(), "tags": tags}
        (self._sweep.path / "azureml.json").write_text(json.dumps(record, indent=2))

    def __repr__(self) -> str:
        return f"Run(Experiment: {self.experiment.name},\nId: {self.id},\nType: {self.type},\nStatus: {self.get_status()})"

    def _repr_html_(self) -> str:
        from ..._display import table

        url = self.get_portal_url()
        return table({"Experiment": self.experiment.name, "Id": self.id, "Type": self.type, "Status": self.get_status(),
                      "Details Page": f'<a href="{url}" target="_blank" rel="noopener">Link to trainkit dashboard</a>'})


__all__ = ["HyperDriveRun"]
