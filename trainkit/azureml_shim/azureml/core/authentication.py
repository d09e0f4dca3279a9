"""Azure ML SDK v1's authentication classes. The trainkit workspace is local: there is nobody to sign
in to, so they only keep what they were given; a Workspace accepts them as `auth=`."""
from __future__ import annotations

from .._tk import Surface

LOCAL = "nothing: the trainkit workspace is local (remote hosts use ssh keys: compute=ssh)"


class AbstractAuthentication(Surface):
    _unsupported = {"get_authentication_header": LOCAL, "get_token": LOCAL}

    def __init__(self, *args, **kwargs):
        self.args, self.kwargs = args, kwargs


class InteractiveLoginAuthentication(AbstractAuthentication):
    pass


class ServicePrincipalAuthentication(AbstractAuthentication):
    pass


class MsiAuthentication(AbstractAuthentication):
    pass


class AzureCliAuthentication(AbstractAuthentication):
    pass


class TokenAuthentication(AbstractAuthentication):
    pass


__all__ = ["AbstractAuthentication", "InteractiveLoginAuthentication", "ServicePrincipalAuthentication",
           "MsiAuthentication", "AzureCliAuthentication", "TokenAuthentication"]
