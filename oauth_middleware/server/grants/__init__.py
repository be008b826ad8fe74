"""The grants the token endpoint serves, keyed by ``grant_type`` (RFC 6749 §4)."""

from oauth_middleware.server.grants.authorization_code import AuthorizationCodeGrant
from oauth_middleware.server.grants.base import Grant
from oauth_middleware.server.grants.client_credentials import ClientCredentialsGrant
from oauth_middleware.server.grants.password import PasswordGrant
from oauth_middleware.server.grants.refresh_token import RefreshTokenGrant

GRANTS: dict[str, type[Grant]] = {
    grant.GRANT_TYPE: grant
    for grant in (AuthorizationCodeGrant, RefreshTokenGrant, ClientCredentialsGrant, PasswordGrant)
}

__all__ = [
    "GRANTS",
    "AuthorizationCodeGrant",
    "ClientCredentialsGrant",
    "Grant",
    "PasswordGrant",
    "RefreshTokenGrant",
]
