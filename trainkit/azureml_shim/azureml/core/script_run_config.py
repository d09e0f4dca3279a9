"""Azure ML SDK v1's `ScriptRunConfig`: a script of a source directory with its arguments,
compute target, environment and distributed job configuration; `Experiment.submit` runs it as a
trainkit script run (`entry=script`, see azureml/_submit.py)."""
from __future__ import annotations

from .._tk import Surface, unsupported


class ScriptRunConfig(Surface):
    """What to run, where and how."""

    _unsupported = {"save": "an experiment config of your own (conf/experiment/NAME.yaml)"}

    def __init__(self, source_directory: str = ".", script: str | None = None, arguments=None, run_config=None,
                 _telemetry_values=None, compute_target=None, environment=None, distributed_job_config=None,
                 resume_from=None, max_run_duration_seconds: int | None = None, command=None,
                 docker_runtime_config=None):
        from .runconfig import RunConfiguration

        if command is not None:
            unsupported("ScriptRunConfig(command=...)", "script= with arguments= (entry.script, entry.arguments)")
        if resume_from is not None:
            unsupported("ScriptRunConfig(resume_from=...)", "run.resume=RUN_ID (the run continues with its checkpoints), "
                        "or pass the earlier run's outputs folder as an argument")
        self.source_directory, self.script = source_directory, script
        self.arguments = list(arguments or [])
        self.run_config = run_config or RunConfiguration()
        self.compute_target, self.environment = compute_target, environment
        self.distributed_job_config = distributed_job_config
        self.max_run_duration_seconds = max_run_duration_seconds
        self.docker_runtime_config = docker_runtime_config

    def _submit(self, experiment, tags: dict):
        from .._submit import submit_script

        return submit_script(experiment, self, tags)

    def __repr__(self) -> str:
        return f"ScriptRunConfig(source_directory={self.source_directory!r}, script={self.script!r}, " \
               f"arguments={self.arguments!r})"


__all__ = ["ScriptRunConfig"]
