"""Azure ML SDK v1's `LocalWebservice` (Azure ran it in Docker on this machine): a `trainkit models serve
--score` process on 127.0.0.1 at the port asked for (a free one if none)."""
from __future__ import annotations

from ._config import DeploymentConfiguration
from .webservice import Webservice


class LocalWebserviceDeploymentConfiguration(DeploymentConfiguration):
    compute_type = "Local"


class LocalWebservice(Webservice):
    """A service deployed with `LocalWebservice.deploy_configuration(port=...)`."""

    _compute_type = "Local"

    @staticmethod
    def deploy_configuration(port: int | None = None) -> LocalWebserviceDeploymentConfiguration:
        if port is not None and not (isinstance(port, int) and 0 < port < 65536):
            from ...exceptions import WebserviceException

            raise WebserviceException(f"LocalWebservice.deploy_configuration: port: expected an integer in [1, 65535], "
                                      f"got {port!r}")
        return LocalWebserviceDeploymentConfiguration(cpu_cores=None, memory_gb=None, port=port)
