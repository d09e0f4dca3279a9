"""The launcher interface: start a JobSpec's worker processes somewhere and report the result."""
from __future__ import annotations

from abc import ABC, abstractmethod

from ..spec import JobSpec


class Launcher(ABC):
    """Starts `spec.world_size` workers running `python -m trainkit.worker job_spec.json`."""

    def __init__(self, compute_cfg: dict):
        self.cfg = compute_cfg

    def preflight(self, cfg: dict) -> None:
        """Refuse a job this target cannot run, before anything is created (default: accept)."""

    @abstractmethod
    def launch(self, spec: JobSpec) -> int:
        """Run (or submit) the job; return the exit code to give the user (0 = success)."""
