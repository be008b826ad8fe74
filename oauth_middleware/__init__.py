"""OAuth 2.0 for any ASGI app: a bearer-token middleware and an authorization server on Redis."""

import typing as _typing
from importlib import import_module as _import_module

from oauth_middleware.decorators import oauth_required
from oauth_middleware.dependencies import RequireScopes, get_access_token
from oauth_middleware.errors import OAuthError
from oauth_middleware.identity import ClientUser, TokenUser, logged_in_user
from oauth_middleware.middleware import OAuthMiddleware
from oauth_middleware.models import AccessToken, Client, IssuedTokens, Scope
from oauth_middleware.oauth import OAuth
from oauth_middleware.scopes import AUTO
from oauth_middleware.store import StoreUnavailable, TokenStore
from oauth_middleware.toolbox import ensure_client, issue_token, register_client
from oauth_middleware.verifier import TokenVerifier

if _typing.TYPE_CHECKING:
    from oauth_middleware.verifiers.introspection import IntrospectionVerifier
    from oauth_middleware.verifiers.jwt import JWTVerifier

#: The release (semantic versioning, docs/versioning.md); hatch reads it for the package.
__version__ = "0.1.0"

__all__ = [
    "AUTO",
    "AccessToken",
    "Client",
    "ClientUser",
    "IntrospectionVerifier",
    "IssuedTokens",
    "JWTVerifier",
    "OAuth",
    "OAuthError",
    "OAuthMiddleware",
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

#: Verifiers whose dependencies are extras: imported on first use, each naming its extra.
_OPTIONAL = {"JWTVerifier": ("verifiers.jwt", "jwt"),
             "IntrospectionVerifier": ("verifiers.introspection", "introspection")}


def __getattr__(name: str) -> object:
    if name not in _OPTIONAL:
        raise AttributeError(f"module 'oauth_middleware' has no attribute {name!r}")
    module, extra = _OPTIONAL[name]
    try:
        value = getattr(_import_module(f"oauth_middleware.{module}"), name)
    except ImportError as exc:
        raise ImportError(f'{name} needs the "{extra}" extra: '
                          f'pip install "oauth-middleware[{extra}]"') from exc
    globals()[name] = value
    return value
