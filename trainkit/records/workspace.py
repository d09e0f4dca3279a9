"""One object owns every path trainkit writes: the workspace and, inside it, each run's record."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ..errors import ConfigError

DEFAULT_ROOT = "~/.trainkit"  # used when neither workspace.root nor $TRAINKIT_WORKSPACE is set


def default_root() -> str:
    return os.environ.get("TRAINKIT_WORKSPACE") or DEFAULT_ROOT


def local_path(url_or_path: str, key: str = "workspace.root") -> Path:
    """A local directory from a path or file:// URL; other fsspec protocols are refused here."""
    s = str(url_or_path)
    if s.startswith("file://"):
        s = s[len("file://"):]
    elif "://" in s:
        raise ConfigError([f"{key}: expected a local path or file:// URL (worker processes write "
                           f"runs there directly), got {url_or_path!r}"])
    return Path(os.path.expanduser(s)).resolve()


@dataclass(frozen=True)
class WorkspacePaths:
    root: Path

    @classmethod
    def at(cls, root: str | None = None) -> "WorkspacePaths":
        return cls(local_path(root or default_root()))

    @property
    def datasets(self) -> Path:
        return self.root / "datasets"

    @property
    def blobs(self) -> Path:
        return self.datasets / "blobs"

    @property
    def experiments(self) -> Path:
        return self.root / "experiments"

    def run_dir(self, experiment: str, run_id: str) -> Path:
        return self.experiments / experiment / "runs" / run_id


def blob_relpath(path: str) -> str:
    """A cached dataset file's path below a workspace's datasets/blobs/ (`<sha256>/...`): where it
    goes in another machine's workspace (ssh hosts, Ray nodes)."""
    parts = Path(path).parts
    return "/".join(parts[parts.index("blobs") + 1:])


@dataclass(frozen=True)
class RunPaths:
    """Every file of one run's record (the Run of the Azure ML seeds)."""

    root: Path

    spec = property(lambda self: self.root / "job_spec.json")
    status = property(lambda self: self.root / "status.json")
    config = property(lambda self: self.root / "config.yaml")
    overrides = property(lambda self: self.root / "overrides.yaml")
    metrics = property(lambda self: self.root / "metrics.jsonl")
    system = property(lambda self: self.root / "system.jsonl")              # CPU %, memory, GPU over time (worker/system.py)
    environment = property(lambda self: self.root / "environment.json")
    plot = property(lambda self: self.root / "curves.png")
    logs = property(lambda self: self.root / "logs")
    console = property(lambda self: self.root / "logs" / "console.log")     # all ranks, prefixed: what the job printed
    stdout_log = property(lambda self: self.root / "logs" / "stdout.log")   # the chief's stdout
    stderr_log = property(lambda self: self.root / "logs" / "stderr.log")   # the chief's stderr
    images = property(lambda self: self.root / "logs" / "images")
    outputs = property(lambda self: self.root / "outputs")
    model_dir = property(lambda self: self.root / "outputs" / "model")
    final_metrics = property(lambda self: self.root / "outputs" / "metrics.json")
    registered_model = property(lambda self: self.root / "outputs" / "registered_model.json")
    tags = property(lambda self: self.root / "tags.json")                  # tags a script added (run.tag)
    params = property(lambda self: self.root / "params.json")              # parameters a script logged (mlflow.log_param)
    pruned = property(lambda self: self.root / "pruned.json")              # why a script's trial was pruned
    register_request = property(lambda self: self.root / "register_model.json")   # an Azure-style script's run.register_model
    code = property(lambda self: self.root / "code")                       # entry=script: the script's snapshot, its cwd
    code_info = property(lambda self: self.root / "code.json")             # entry=script: the snapshot's file hashes (rerun-after-fix)
    dataset_mount = property(lambda self: self.root / "dataset")           # entry=script: ${dataset.path}
    env_files = property(lambda self: self.root / ".env")                  # ssh: per-rank 0600 environment files
    pid_files = property(lambda self: self.root / ".pids")                 # ssh: remote process groups
    checkpoints = property(lambda self: self.root / "checkpoints")
    source = property(lambda self: self.root / "source")
    source_info = property(lambda self: self.root / "source" / "source.json")   # the snapshot's project, git commit, size
    tensorboard = property(lambda self: self.root / "logs" / "tensorboard")

    def backend_dir(self, backend: str) -> Path:
        """What a compute backend keeps with the run (its batch script, its hosts' probe answers)."""
        return self.root / backend

    def rank_log(self, rank: int) -> Path:
        """Combined output of a non-chief rank (the chief's is stdout.log / stderr.log)."""
        return self.logs / f"rank-{rank}.log"
