"""Run records as files: the workspace layout, each run's status and paths, the job spec, sweeps.
Pure file work: no Hydra, no TensorFlow, no compute backend."""

__all__: list[str] = []   # internal: run records are read through the Python API (trainkit.Workspace) and the CLI
