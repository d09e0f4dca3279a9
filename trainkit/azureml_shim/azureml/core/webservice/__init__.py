"""Azure ML SDK v1's `azureml.core.webservice`: services started by `Model.deploy` as `trainkit models
serve --score` processes on this machine (webservice.py), deployed with `AciWebservice` or
`LocalWebservice` configurations; `AksWebservice` is not supported."""
from .aci import AciServiceDeploymentConfiguration, AciWebservice
from .aks import AksWebservice
from .local import LocalWebservice, LocalWebserviceDeploymentConfiguration
from .webservice import Webservice, webservices_of

__all__ = ["Webservice", "AciWebservice", "LocalWebservice", "AksWebservice", "AciServiceDeploymentConfiguration",
           "LocalWebserviceDeploymentConfiguration", "webservices_of"]
