"""The authorization server: the sub-app a user mounts (see ``app``)."""

from oauth_middleware.server.app import METADATA_PATH, AuthorizationServer
from oauth_middleware.server.config import RegistrationPolicy, ThrottlePolicy
from oauth_middleware.server.document_policy import ClientMetadataPolicy
from oauth_middleware.server.oidc import OpenIDProvider

__all__ = ["METADATA_PATH", "AuthorizationServer", "ClientMetadataPolicy", "OpenIDProvider",
           "RegistrationPolicy",
           "ThrottlePolicy"]
