"""What the deployment configurations of `AciWebservice.deploy_configuration` and
`LocalWebservice.deploy_configuration` share: how the service's server is started and what its
record keeps. cpu_cores caps the score worker's math threads (TF_NUM_INTRAOP_THREADS, OMP_NUM_THREADS);
memory_gb is recorded, not enforced."""
from __future__ import annotations

import math

from ..._tk import note, unsupported

DEPLOY_TIMEOUT_S = 1800.0   # wait_for_deployment's default: a first --environment build takes minutes


class DeploymentConfiguration:
    compute_type = ""

    def __init__(self, cpu_cores: float = 0.1, memory_gb: float = 0.5, tags=None, properties=None,
                 description: str | None = None, auth_enabled: bool = False, primary_key: str | None = None,
                 secondary_key: str | None = None, port: int | None = None):
        self.cpu_cores, self.memory_gb = cpu_cores, memory_gb
        self.tags, self.properties, self.description = dict(tags or {}), dict(properties or {}), description
        self.auth_enabled, self.primary_key, self.secondary_key = bool(auth_enabled), primary_key, secondary_key
        self.port = port

    def threads(self) -> int:
        return max(1, math.ceil(float(self.cpu_cores or 1)))

    def thread_env(self) -> dict:
        """The score worker's thread caps from cpu_cores (none when not given: LocalWebservice)."""
        if self.cpu_cores is None:
            return {}
        n = str(self.threads())
        return {"TF_NUM_INTRAOP_THREADS": n, "TF_NUM_INTEROP_THREADS": "1", "OMP_NUM_THREADS": n}

    def record(self) -> dict:
        return {"cpu_cores": self.cpu_cores, "memory_gb": self.memory_gb, "tags": self.tags,
                "properties": self.properties, "description": self.description, "deploy_timeout_s": DEPLOY_TIMEOUT_S}

    def validate_configuration(self) -> None:
        """Nothing to check beyond what the constructor refused."""


def refuse(options: dict, instead: dict) -> None:
    """NotImplementedError for the first option given a value that trainkit cannot honour."""
    for key, value in options.items():
        if value:
            unsupported(f"deploy_configuration({key}=...)", instead[key])


def recorded_only(options: dict) -> None:
    """A note for options that are kept in the record but change nothing here."""
    given = [k for k, v in options.items() if v]
    if given:
        note(f"deploy_configuration({', '.join(given)}): recorded; no effect on a service on this machine")
