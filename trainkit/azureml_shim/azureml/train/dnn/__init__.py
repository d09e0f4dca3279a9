"""Azure ML SDK v1's deprecated `azureml.train.dnn.TensorFlow` estimator, run as the ScriptRunConfig it
stands for: its script_params as arguments, its framework version and packages as an environment
(mapped as `trainkit migrate` maps them), `distributed_training` (Mpi / ParameterServer) or
`distributed_backend` ('mpi' / 'ps') as the distribution, `inputs` as the run's dataset."""
from __future__ import annotations

from ..._tk import Surface, unsupported
from ...core.runconfig import MpiConfiguration, TensorflowConfiguration

PYTORCH_ONLY = "distribution=horovod (Mpi) or multi_worker_mirrored / parameter_server (ParameterServer)"


class Mpi(MpiConfiguration):
    """The estimator's MPI (Horovod) backend."""


class ParameterServer(TensorflowConfiguration):
    """The estimator's parameter-server backend."""


class Gloo:
    def __init__(self, *args, **kwargs):
        unsupported("azureml.train.dnn.Gloo (PyTorch)", PYTORCH_ONLY)


class Nccl:
    def __init__(self, *args, **kwargs):
        unsupported("azureml.train.dnn.Nccl (PyTorch)", PYTORCH_ONLY)


class TensorFlow(Surface):
    """`TensorFlow(source_directory, entry_script, script_params, compute_target, ...)`; submit it like a
    ScriptRunConfig (exp.submit(est), HyperDriveConfig(estimator=est))."""

    _unsupported = {"get_supported_versions": "trainkit runs TensorFlow 2.21 (Keras 2 scripts: environment.keras '2')"}

    def __init__(self, source_directory: str, *, compute_target=None, vm_size=None, vm_priority=None,
                 entry_script: str | None = None, script_params: dict | None = None, node_count: int = 1,
                 process_count_per_node: int = 1, worker_count: int = 1, parameter_server_count: int = 1,
                 distributed_backend: str | None = None, distributed_training=None, use_gpu: bool = False,
                 conda_packages=None, pip_packages=None, pip_requirements_file=None, conda_dependencies_file=None,
                 environment_variables=None, environment_definition=None, inputs=None, framework_version=None,
                 max_run_duration_seconds=None, **kwargs):
        self.source_directory, self.entry_script = source_directory, entry_script
        self.script_params, self.compute_target, self.inputs = dict(script_params or {}), compute_target, list(inputs or [])
        self._packages = (list(pip_packages or []), list(conda_packages or []), pip_requirements_file,
                          conda_dependencies_file)
        self._sizes = (node_count, process_count_per_node, worker_count, parameter_server_count)
        self.distributed_backend, self.distributed_training = distributed_backend, distributed_training
        self.use_gpu, self.framework_version = use_gpu, framework_version
        self.environment_variables, self.environment_definition = dict(environment_variables or {}), environment_definition
        self.max_run_duration_seconds = max_run_duration_seconds

    def _arguments(self) -> list:
        out = []
        for key, value in self.script_params.items():
            out += [key] if value in ("", None) else [key, value]
        return out

    def _environment(self):
        from ...core.environment import Environment

        if self.environment_definition is not None:
            return self.environment_definition
        pip, conda, pip_file, conda_file = self._packages
        env = Environment.from_conda_specification("estimator-env", conda_file) if conda_file else \
            Environment.from_pip_requirements("estimator-env", pip_file) if pip_file else Environment("estimator-env")
        tf = "tensorflow-gpu" if self.use_gpu else "tensorflow"
        env.python.conda_dependencies.add_pip_package(tf + (f"=={self.framework_version}" if self.framework_version else ""))
        for p in pip:
            env.python.conda_dependencies.add_pip_package(p)
        for p in conda:
            env.python.conda_dependencies.add_conda_package(p)
        env.docker.gpu_support = self.use_gpu
        env.environment_variables = dict(self.environment_variables)
        return env

    def _distribution(self):
        nodes, per_node, workers, ps = self._sizes
        if self.distributed_training is not None:
            cfg = self.distributed_training
            if isinstance(cfg, MpiConfiguration):
                return MpiConfiguration(cfg.process_count_per_node, nodes)
            return cfg
        backend = (self.distributed_backend or "").lower()
        if backend == "mpi":
            return MpiConfiguration(per_node, nodes)
        if backend in ("ps", "parameterserver", "parameter_server"):
            return TensorflowConfiguration(workers, ps)
        return None

    def _script_run_config(self):
        from ...core.script_run_config import ScriptRunConfig

        src = ScriptRunConfig(self.source_directory, self.entry_script, self._arguments(),
                              compute_target=self.compute_target, environment=self._environment(),
                              distributed_job_config=self._distribution(),
                              max_run_duration_seconds=self.max_run_duration_seconds)
        src._inputs = self.inputs
        return src

    def _submit(self, experiment, tags: dict):
        return self._script_run_config()._submit(experiment, tags)


__all__ = ["TensorFlow", "Mpi", "ParameterServer", "Gloo", "Nccl"]
