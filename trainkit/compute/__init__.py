"""Compute backends by target name (`compute.name`): each target is one module plus one line here.
A backend owns its typed config, its checks, preflight, environment build, submission and the Job
handle's backend-specific parts (compute/base.py). Modules are imported only when chosen."""
from __future__ import annotations

from importlib import import_module
from pathlib import Path

from ..errors import ConfigError
from ..fsutil import read_json
from ..records.workspace import RunPaths
from .base import Backend, Job, JobState

BACKENDS = {"local": "trainkit.compute.local:LocalBackend",
            "slurm": "trainkit.compute.slurm:SlurmBackend",
            "ssh": "trainkit.compute.ssh:SshBackend",
            "ray": "trainkit.compute.ray:RayBackend"}
DEFAULT = "local"   # runs recorded before jobs named their backend ran here
DEFAULT_CLUSTER = "slurm"   # what `trainkit migrate` makes of an autoscaling cluster unless told

__all__ = ["BACKENDS", "Backend", "Job", "JobState", "backend_class", "cluster_targets", "get_backend", "job_for"]


def backend_class(name: str) -> type[Backend]:
    target = BACKENDS.get(name)
    if target is None:
        raise ConfigError([f"compute.name: expected one of {sorted(BACKENDS)}, got {name!r}"])
    module, _, cls = target.partition(":")
    return getattr(import_module(module), cls)


def cluster_targets() -> list[str]:
    """The targets that run autoscaling clusters of VMs (Backend.from_cluster)."""
    return [name for name in BACKENDS if backend_class(name).from_cluster(None, None) is not None]


def get_backend(compute) -> Backend:
    """The backend of a compute config (its dataclass, or the plain dict of a resolved config)."""
    name = compute["name"] if isinstance(compute, dict) else compute.name
    return backend_class(name)(compute)


def job_for(run_dir: str | Path, status: dict | None = None, write: bool = True) -> Job:
    """The Job handle of a run, from its record: whatever backend it was submitted to
    (`write=False`: a reader's handle that never changes the record)."""
    paths = RunPaths(Path(run_dir))
    status = read_json(paths.status, {}) if status is None else status
    return backend_class((status or {}).get("job", {}).get("backend") or DEFAULT).attach(paths, write)
