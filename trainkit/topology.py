"""Which process am I? Pure functions and one small object; no I/O beyond reading os.environ."""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Mapping


@dataclass(frozen=True)
class WorkerEnv:
    rank: int = 0           # global rank; rank 0 is the chief and does all writing
    world_size: int = 1     # number of worker processes in the job
    local_rank: int = 0     # rank on this host

    @property
    def is_chief(self) -> bool:
        return self.rank == 0

    @classmethod
    def detect(cls, environ: Mapping[str, str] | None = None) -> "WorkerEnv":
        """Read the launcher's TRAINKIT_* variables, falling back to a single process."""
        env = os.environ if environ is None else environ
        return cls(rank=int(env.get("TRAINKIT_RANK", 0)),
                   world_size=int(env.get("TRAINKIT_WORLD_SIZE", 1)),
                   local_rank=int(env.get("TRAINKIT_LOCAL_RANK", 0)))
