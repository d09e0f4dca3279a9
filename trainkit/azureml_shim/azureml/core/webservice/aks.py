"""Azure ML SDK v1's `AksWebservice`: Kubernetes deployments are not part of trainkit."""
from __future__ import annotations

from ..._tk import unsupported
from .webservice import Webservice

INSTEAD = ("AciWebservice/LocalWebservice (a service on this machine), or `trainkit models serve NAME --score "
           "score.py` on each host, behind your own load balancer")


class AksWebservice(Webservice):
    _compute_type = "AKS"

    @staticmethod
    def deploy_configuration(*args, **kwargs):
        unsupported("AksWebservice (Azure Kubernetes Service)", INSTEAD)
