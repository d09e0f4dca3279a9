"""What the Hydra entry (`trainkit.cli.train`) and trainkit's Hydra plugins (the launcher, the
Optuna sweeper, the sweep-summary callback) tell each other inside one `python -m trainkit`
process. Hydra gives them no channel of their own, so this one object is it; nothing else is
shared between them.

- `composed`: Hydra composed a config, so a later exit 1 is a failed job, not a bad override;
- `failed_jobs`: how many sweep jobs failed, set by the summary callback: the exit code;
- `prepare`: the entry's way to create a sweep job's run without starting it, for the launcher
  that starts a whole sweep on one backend at once.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable


@dataclass
class HydraSession:
    composed: bool = False
    failed_jobs: int = 0
    prepare: Callable | None = None


SESSION = HydraSession()


def job_value(job_return) -> dict | None:
    """A Hydra job's returned result dict (None when it raised or returned something else).
    Hydra's public `return_value` raises a failed job's exception and prints to stderr, so its
    field is read here and in job_error, nowhere else."""
    value = job_return._return_value
    return value if isinstance(value, dict) else None


def job_error(job_return) -> str:
    """What a Hydra job that gave no result dict raised (or returned), for its record."""
    return repr(job_return._return_value)
