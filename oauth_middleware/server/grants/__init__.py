"""The grants, each owning its flow at ``auth/`` and ``token/`` (RFC 6749 §4)."""

from oauth_middleware.server.grants.authorization_code import AuthorizationCodeGrant
from oauth_middleware.server.grants.base import (
    AuthorizationDetails,
    AuthorizationGrant,
    Grant,
    TokenGrant,
)
from oauth_middleware.server.grants.client_credentials import ClientCredentialsGrant
from oauth_middleware.server.grants.device_code import DeviceCodeGrant
from oauth_middleware.server.grants.extensions import GrantExtension
from oauth_middleware.server.grants.implicit import ImplicitGrant
from oauth_middleware.server.grants.password import PasswordGrant
from oauth_middleware.server.grants.refresh_token import RefreshTokenGrant
from oauth_middleware.server.grants.registry import DEFAULT_GRANTS, Grants
from oauth_middleware.server.grants.request import Prefetch, TokenRequest

__all__ = [
    "DEFAULT_GRANTS",
    "AuthorizationCodeGrant",
    "AuthorizationDetails",
    "AuthorizationGrant",
    "ClientCredentialsGrant",
    "DeviceCodeGrant",
    "Grant",
    "GrantExtension",
    "Grants",
    "ImplicitGrant",
    "PasswordGrant",
    "Prefetch",
    "RefreshTokenGrant",
    "TokenGrant",
    "TokenRequest",
]
