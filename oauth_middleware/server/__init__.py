"""The authorization server: the sub-app a user mounts (see ``app``)."""

from oauth_middleware.server.app import METADATA_PATH, AuthorizationServer
from oauth_middleware.server.config import RegistrationPolicy, ThrottlePolicy
from oauth_middleware.server.document_policy import ClientMetadataPolicy
from oauth_middleware.server.exchange_policy import ExchangeClient, TokenExchangePolicy
from oauth_middleware.server.oidc import OpenIDProvider

__all__ = ["METADATA_PATH", "AuthorizationServer", "ClientMetadataPolicy", "ExchangeClient",
           "OpenIDProvider", "RegistrationPolicy", "ThrottlePolicy", "TokenExchangePolicy"]
