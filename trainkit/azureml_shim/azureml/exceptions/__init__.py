"""Azure ML SDK v1's exception classes (`from azureml.exceptions import UserErrorException`), raised
by trainkit's implementation where Azure raised them."""
from __future__ import annotations


class AzureMLException(Exception):
    """The base of every SDK error (Azure's `exception_message` is the message)."""

    def __init__(self, exception_message: str = "", *args, **kwargs):
        super().__init__(exception_message, *args)
        self.message = exception_message


class UserErrorException(AzureMLException):
    """A request that cannot be met as asked (an unknown dataset name, a bad argument)."""


class ComputeTargetException(AzureMLException):
    """A compute target that does not exist or cannot be used."""


class ExperimentExecutionException(AzureMLException):
    """A run that could not be started or waited for."""


class ActivityFailedException(AzureMLException):
    """A run that ended Failed (raised by `wait_for_completion(raise_on_error=True)`)."""


class RunConfigurationException(AzureMLException):
    """A run configuration trainkit cannot run as given."""


class ProjectSystemException(AzureMLException):
    """A workspace or project problem (a config.json that cannot be read)."""


class WebserviceException(AzureMLException):
    """A deployment problem (azureml.core.webservice)."""


class ModelNotFoundException(AzureMLException):
    """No registered model of that name or version."""


class DatasetException(UserErrorException):
    """A dataset that cannot be read or registered as given."""


__all__ = ["AzureMLException", "UserErrorException", "ComputeTargetException", "ExperimentExecutionException",
           "ActivityFailedException", "RunConfigurationException", "ProjectSystemException", "WebserviceException",
           "ModelNotFoundException", "DatasetException"]
