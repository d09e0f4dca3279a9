"""Hydra callbacks (Hydra stays at the edge: the config package and the command line): record each
sweep job and summarise sweeps."""
from __future__ import annotations

from pathlib import Path

from hydra.core.utils import JobStatus
from hydra.experimental.callback import Callback

from ..session import SESSION, job_error, job_value


class SweepSummary(Callback):
    """On each job's end: jobs/<n>/job.json, and the sweep's objective.json (the one metric and
    direction that rank its trials) if not there yet. On the sweep's end: the summary, printed and
    written, and the best trial's model registered once (trials do not register). Nothing is
    written before a job ends, so a sweep refused at validation leaves nothing behind."""

    def __init__(self, metric: str = "val_accuracy", mode: str = "max"):
        if mode not in ("max", "min"):
            from ..errors import ConfigError

            raise ConfigError([f"hydra.callbacks.sweep_summary.mode: expected max or min, got {mode!r}"])
        self.metric, self.mode = metric, mode

    def objective(self, config) -> tuple[str, str]:
        """An Optuna search ranks by what it optimises; a -m sweep by this callback's metric/mode."""
        sweeper = config.hydra.sweeper
        if "metric" in sweeper:
            return sweeper.metric, "max" if sweeper.direction == "maximize" else "min"
        return self.metric, self.mode

    def on_job_end(self, config, job_return, **kwargs) -> None:
        from hydra.core.hydra_config import HydraConfig
        from hydra.types import RunMode

        if HydraConfig.get().mode != RunMode.MULTIRUN:
            return
        out = Path(HydraConfig.get().runtime.output_dir)
        record = job_value(job_return) if job_return.status == JobStatus.COMPLETED else None
        if record is None:
            record = {"state": "failed", "error": job_error(job_return),
                      "overrides": list(job_return.overrides or []), "job": HydraConfig.get().job.num}
        from ..fsutil import atomic_write_json

        atomic_write_json(out / "job.json", record)   # non-JSON values are written with str()
        objective = Path(HydraConfig.get().sweep.dir) / "objective.json"
        if not objective.exists():
            metric, mode = self.objective(config)
            atomic_write_json(objective, {"metric": metric, "mode": mode})

    def on_multirun_end(self, config, **kwargs) -> None:
        from ..api.sweeps import write_summary
        from ..records.workspace import WorkspacePaths

        sweep_dir = Path(config.hydra.sweep.dir)
        if not (sweep_dir / "jobs").is_dir():
            return
        metric, mode = self.objective(config)
        ws = WorkspacePaths.at(config.workspace.root)
        summary = write_summary(ws, sweep_dir, metric, mode)
        from .fmt import print_sweep_summary

        print_sweep_summary(summary)
        SESSION.failed_jobs = sum(n for s, n in summary["counts"].items()
                                  if s not in ("completed", "pruned", "queued", "running"))   # detached: not ended yet
        if config.registry.enabled:
            from ..api.sweeps import register_best
            from ..errors import TrainkitError

            try:
                print(register_best(ws, summary), flush=True)
            except TrainkitError as e:   # the sweep itself ran: say why nothing was registered
                print(f"error: registering the best trial of sweep {summary['sweep']}: {e}", flush=True)
                SESSION.failed_jobs = SESSION.failed_jobs or 1
