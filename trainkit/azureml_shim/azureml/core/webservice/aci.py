"""Azure ML SDK v1's `AciWebservice`: on trainkit, a service on this machine (127.0.0.1, a free port)
served by `trainkit models serve --score`."""
from __future__ import annotations

from ._config import DeploymentConfiguration, recorded_only, refuse
from .webservice import Webservice

TLS = "plain HTTP on 127.0.0.1; put a TLS-terminating proxy (nginx, caddy) in front for other hosts"
INSTEAD = {"ssl_enabled": TLS, "ssl_cert_pem_file": TLS, "ssl_key_pem_file": TLS, "ssl_cname": TLS,
           "dns_name_label": "http://127.0.0.1:PORT (service.scoring_uri)",
           "cmk_vault_base_url": "the workspace's own disk", "cmk_key_name": "the workspace's own disk",
           "cmk_key_version": "the workspace's own disk",
           "vnet_name": "the host's own network (the service listens on 127.0.0.1)",
           "subnet_name": "the host's own network (the service listens on 127.0.0.1)"}


class AciServiceDeploymentConfiguration(DeploymentConfiguration):
    compute_type = "ACI"


class AciWebservice(Webservice):
    """A service deployed with `AciWebservice.deploy_configuration(...)`."""

    _compute_type = "ACI"

    @staticmethod
    def deploy_configuration(cpu_cores: float | None = None, memory_gb: float | None = None, tags=None,
                             properties=None, description: str | None = None, location: str | None = None,
                             auth_enabled: bool | None = None, ssl_enabled: bool | None = None,
                             enable_app_insights: bool | None = None, ssl_cert_pem_file=None, ssl_key_pem_file=None,
                             ssl_cname=None, dns_name_label=None, primary_key: str | None = None,
                             secondary_key: str | None = None, collect_model_data: bool | None = None,
                             cmk_vault_base_url=None, cmk_key_name=None, cmk_key_version=None, vnet_name=None,
                             subnet_name=None) -> AciServiceDeploymentConfiguration:
        """cpu_cores caps the score worker's threads; auth_enabled gives the service keys."""
        refuse({"ssl_enabled": ssl_enabled, "ssl_cert_pem_file": ssl_cert_pem_file, "ssl_key_pem_file": ssl_key_pem_file,
                "ssl_cname": ssl_cname, "dns_name_label": dns_name_label, "cmk_vault_base_url": cmk_vault_base_url,
                "cmk_key_name": cmk_key_name, "cmk_key_version": cmk_key_version, "vnet_name": vnet_name,
                "subnet_name": subnet_name}, INSTEAD)
        recorded_only({"location": location, "enable_app_insights": enable_app_insights,
                       "collect_model_data": collect_model_data})
        return AciServiceDeploymentConfiguration(cpu_cores or 0.1, memory_gb or 0.5, tags, properties, description,
                                                 bool(auth_enabled), primary_key, secondary_key)
