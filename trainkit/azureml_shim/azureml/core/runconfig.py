"""Azure ML SDK v1's run configuration classes: `RunConfiguration` (script, target, environment,
communicator, node count), the distributed job configurations `MpiConfiguration` (Horovod in
trainkit) and `TensorflowConfiguration` (MultiWorkerMirrored, or the parameter-server strategy with
parameter servers), and `DockerConfiguration` (recorded, not used)."""
from __future__ import annotations

from .._tk import Surface, unsupported
from .conda_dependencies import CondaDependencies
from .environment import DEFAULT_CPU_IMAGE, DEFAULT_GPU_IMAGE


class MpiConfiguration:
    """Horovod: `process_count_per_node` processes on each of `node_count` nodes."""

    def __init__(self, process_count_per_node: int = 1, node_count: int = 1):
        self.process_count_per_node, self.node_count = int(process_count_per_node), int(node_count)

    def __repr__(self) -> str:
        return f"MpiConfiguration(process_count_per_node={self.process_count_per_node}, node_count={self.node_count})"


class TensorflowConfiguration:
    """Native distributed TensorFlow: `worker_count` workers (TF_CONFIG each) and parameter servers."""

    def __init__(self, worker_count: int = 1, parameter_server_count: int = 1):
        self.worker_count, self.parameter_server_count = int(worker_count), int(parameter_server_count)

    def __repr__(self) -> str:
        return f"TensorflowConfiguration(worker_count={self.worker_count}, " \
               f"parameter_server_count={self.parameter_server_count})"


class PyTorchConfiguration:
    """PyTorch's launcher: not something trainkit (TensorFlow/Keras) runs."""

    def __init__(self, *args, **kwargs):
        unsupported("PyTorchConfiguration", "distribution=horovod | multi_worker_mirrored | parameter_server "
                    "(trainkit runs TensorFlow/Keras scripts)")


class DockerConfiguration:
    """Docker settings of a run: recorded, not used (trainkit runs in the host's environments)."""

    def __init__(self, use_docker: bool = False, shm_size: str | None = None, shared_volumes: bool = True,
                 arguments=None):
        self.use_docker, self.shm_size, self.shared_volumes, self.arguments = use_docker, shm_size, shared_volumes, arguments


class HistoryConfiguration:
    def __init__(self):
        self.output_collection, self.snapshot_project, self.directories_to_watch = True, True, ["logs"]


class RunConfiguration(Surface):
    """How a script runs: its target, environment and distribution (used through ScriptRunConfig)."""

    _unsupported = {"save": "an experiment config of your own (conf/experiment/NAME.yaml; `trainkit migrate` "
                            "writes them)",
                    "load": "an experiment config of your own (conf/experiment/NAME.yaml)",
                    "delete": "an experiment config of your own (conf/experiment/NAME.yaml)"}

    def __init__(self, script: str | None = None, arguments=None, framework: str | None = None,
                 communicator: str | None = None, conda_dependencies: CondaDependencies | None = None,
                 _history_enabled=None, _path=None, _name=None, command=None):
        from .environment import Environment

        self.script, self.arguments, self.command = script, list(arguments or []), command
        self.framework, self.communicator = framework or "Python", communicator or "None"
        self.target, self.node_count, self.max_run_duration_seconds = "local", 1, None
        self.environment = Environment("default-environment")
        self.environment._implicit = conda_dependencies is None   # untouched: trainkit's base, no notes
        if conda_dependencies is not None:
            self.environment.python.conda_dependencies = conda_dependencies
        self.mpi, self.tensorflow = MpiConfiguration(), TensorflowConfiguration()
        self.docker, self.history, self.data, self.output_data = DockerConfiguration(), HistoryConfiguration(), {}, {}

    def distribution(self):
        """The distributed job configuration its communicator chose (None: one process)."""
        if self.communicator in ("Mpi", "IntelMpi"):
            return MpiConfiguration(self.mpi.process_count_per_node, self.node_count or self.mpi.node_count)
        if self.communicator == "ParameterServer":
            return self.tensorflow
        return None


__all__ = ["RunConfiguration", "MpiConfiguration", "TensorflowConfiguration", "PyTorchConfiguration",
           "DockerConfiguration", "CondaDependencies", "DEFAULT_CPU_IMAGE", "DEFAULT_GPU_IMAGE"]
