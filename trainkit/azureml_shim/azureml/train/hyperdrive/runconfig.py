"""`HyperDriveConfig`: a search over a run configuration's script arguments, submitted as a trainkit
Optuna sweep (`tk.sweep` with an hparams_search config written for it, see azureml/_hyperdrive.py)."""
from __future__ import annotations

import enum

from ..._tk import Surface, unsupported


class PrimaryMetricGoal(str, enum.Enum):
    MAXIMIZE = "MAXIMIZE"
    MINIMIZE = "MINIMIZE"


class HyperDriveConfig(Surface):
    """What to search (sampling), for what (primary metric and goal), how far (runs, policy)."""

    def __init__(self, hyperparameter_sampling, primary_metric_name: str, primary_metric_goal, max_total_runs: int,
                 max_concurrent_runs: int | None = None, max_duration_minutes: int = 10080, policy=None,
                 estimator=None, run_config=None, resume_from=None, resume_child_runs=None, pipeline=None,
                 debug_flag=None, custom_run_id=None):
        if pipeline is not None:
            unsupported("HyperDriveConfig(pipeline=...)", "a sweep over one script (run_config=ScriptRunConfig)")
        if (run_config is None) == (estimator is None):
            raise ValueError("HyperDriveConfig: expected exactly one of run_config (a ScriptRunConfig) and estimator")
        self.hyperparameter_sampling, self.primary_metric_name = hyperparameter_sampling, primary_metric_name
        self.primary_metric_goal = PrimaryMetricGoal(getattr(primary_metric_goal, "value", primary_metric_goal))
        self.max_total_runs, self.max_concurrent_runs = int(max_total_runs), max_concurrent_runs
        self.max_duration_minutes, self.policy = max_duration_minutes, policy
        self.run_config, self.estimator = run_config, estimator
        self.resume_from, self.resume_child_runs = resume_from, resume_child_runs

    @property
    def source_run_config(self):
        """The ScriptRunConfig the trials run (an estimator's equivalent)."""
        return self.run_config if self.run_config is not None else self.estimator._script_run_config()

    def _submit(self, experiment, tags: dict):
        from ..._hyperdrive import submit_sweep

        return submit_sweep(experiment, self, tags)


__all__ = ["HyperDriveConfig", "PrimaryMetricGoal"]
