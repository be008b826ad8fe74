"""OAuth 2.0 for any ASGI app: a bearer-token middleware and an authorization server on Redis."""

from oauth_middleware.decorators import oauth_required
from oauth_middleware.dependencies import RequireScopes, get_access_token
from oauth_middleware.errors import OAuthError
from oauth_middleware.identity import ClientUser, TokenUser, logged_in_user
from oauth_middleware.middleware import OAuthMiddleware
from oauth_middleware.models import AccessToken, Client, IssuedTokens, Scope
from oauth_middleware.oauth import OAuth
from oauth_middleware.resource_metadata import ProtectedResource
from oauth_middleware.scopes import AUTO
from oauth_middleware.store import StoreUnavailable, TokenStore
from oauth_middleware.toolbox import ensure_client, issue_token, register_client
from oauth_middleware.verifier import TokenVerifier

#: The release (semantic versioning, docs/versioning.md); hatch reads it for the package.
__version__ = "0.1.0"

__all__ = [
    "AUTO",
    "AccessToken",
    "Client",
    "ClientUser",
    "IssuedTokens",
    "OAuth",
    "OAuthError",
    "OAuthMiddleware",
    "ProtectedResource",
    "RequireScopes",
    "Scope",
    "StoreUnavailable",
    "TokenStore",
    "TokenUser",
    "TokenVerifier",
    "ensure_client",
    "get_access_token",
    "issue_token",
    "logged_in_user",
    "oauth_required",
    "register_client",
]
