"""One object owns every path trainkit writes: the workspace and, inside it, each run's record."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from .errors import ConfigError

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
class Workspace:
    root: Path

    @classmethod
    def at(cls, root: str | None = None) -> "Workspace":
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


@dataclass(frozen=True)
class RunPaths:
    """Every file of one run's record (the Run of the Azure ML seeds)."""

    root: Path

    spec = property(lambda self: self.root / "job_spec.json")
    status = property(lambda self: self.root / "status.json")
    config = property(lambda self: self.root / "config.yaml")
    overrides = property(lambda self: self.root / "overrides.yaml")
    metrics = property(lambda self: self.root / "metrics.jsonl")
    environment = property(lambda self: self.root / "environment.json")
    plot = property(lambda self: self.root / "curves.png")
    logs = property(lambda self: self.root / "logs")
    outputs = property(lambda self: self.root / "outputs")
    model_dir = property(lambda self: self.root / "outputs" / "model")
    checkpoints = property(lambda self: self.root / "checkpoints")
    source = property(lambda self: self.root / "source")
    tensorboard = property(lambda self: self.root / "logs" / "tensorboard")

    def rank_log(self, rank: int) -> Path:
        """Combined output of a non-chief rank (the chief's is stdout.log / stderr.log)."""
        return self.logs / f"rank-{rank}.log"
