"""Hydra callbacks (Hydra stays in the config package): record each sweep job and summarise sweeps."""
from __future__ import annotations

from pathlib import Path

from hydra.core.utils import JobStatus
from hydra.experimental.callback import Callback


SWEEP_RESULT: dict = {}   # read by trainkit.cli.train after a multirun: non-zero exit if a job failed


class SweepSummary(Callback):
    """On each job's end: write jobs/<n>/job.json. On the sweep's end: print and write the summary."""

    def __init__(self, metric: str = "test_accuracy", mode: str = "max"):
        self.metric, self.mode = metric, mode

    def on_job_end(self, config, job_return, **kwargs) -> None:
        from hydra.core.hydra_config import HydraConfig
        from hydra.types import RunMode

        if HydraConfig.get().mode != RunMode.MULTIRUN:
            return
        out = Path(HydraConfig.get().runtime.output_dir)
        if job_return.status == JobStatus.COMPLETED and isinstance(job_return._return_value, dict):
            record = job_return._return_value
        else:
            record = {"state": "failed", "error": repr(job_return._return_value),
                      "overrides": list(job_return.overrides or []), "job": HydraConfig.get().job.num}
        from ..fsutil import atomic_write_json

        atomic_write_json(out / "job.json", record)   # non-JSON values are written with str()

    def on_multirun_end(self, config, **kwargs) -> None:
        from ..api.sweeps import write_summary
        from ..records.workspace import WorkspacePaths

        sweep_dir = Path(config.hydra.sweep.dir)
        if not (sweep_dir / "jobs").is_dir():
            return
        sweeper = config.hydra.sweeper
        metric, mode = self.metric, self.mode
        if "metric" in sweeper:   # an Optuna search: sort by what it optimises
            metric, mode = sweeper.metric, "max" if sweeper.direction == "maximize" else "min"
        summary = write_summary(WorkspacePaths.at(config.workspace.root), sweep_dir, metric, mode)
        from ..cli.fmt import print_sweep_summary

        print_sweep_summary(summary)
        SWEEP_RESULT["failed"] = sum(n for s, n in summary["counts"].items()
                                     if s not in ("completed", "pruned", "queued", "running"))   # detached: not ended yet
