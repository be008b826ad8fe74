"""FastAPI's OpenAPI schema: the OAuth 2 scheme and every protected operation's scopes.

OpenAPI 3.1 §4.8.27 (Security Scheme Object, ``flows``) and §4.8.30 (Security
Requirement Object). FastAPI documents what its dependencies declare:
:class:`~oauth_middleware.dependencies.RequireScopes` is an :class:`OAuth2Scheme`
dependency, so those operations list their scopes by themselves. Routes protected
by the middleware's mapping or by ``@oauth_required`` are invisible to FastAPI;
:func:`document_oauth` adds them, and points the scheme's flows at the mounted
authorization server (authorization code with PKCE, RFC 6749 §4.1 and RFC 7636;
client credentials, RFC 6749 §4.4), so ``/docs`` gets a working Authorize button.
This module needs FastAPI (the ``fastapi`` extra); the rest of the package does not.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, cast

try:
    from fastapi.openapi.models import OAuth2 as OAuth2Model
    from fastapi.openapi.models import (
        OAuthFlowAuthorizationCode,
        OAuthFlowClientCredentials,
        OAuthFlows,
    )
    from fastapi.security import SecurityScopes
    from fastapi.security.base import SecurityBase
except ImportError as exc:  # the one module that needs the optional extra says so
    raise ImportError("oauth_middleware.openapi needs FastAPI: "
                      "pip install 'oauth-middleware[fastapi]'") from exc
from starlette.requests import HTTPConnection

from oauth_middleware.dependencies import SCHEME_NAME, checked_token
from oauth_middleware.middleware import OAuthMiddleware
from oauth_middleware.models import AccessToken
from oauth_middleware.scopes import Rule, ScopePolicy, ScopeSpec, walk_routes
from oauth_middleware.toolbox.rules import scope_title

if TYPE_CHECKING:
    from fastapi import FastAPI

    from oauth_middleware.server import AuthorizationServer

__all__ = ["OAuth2Scheme", "document_oauth"]

#: Where the flows point until :func:`document_oauth` says: the server mounted at ``/oauth``.
DEFAULT_AUTHORIZATION_URL = "/oauth/auth/"
DEFAULT_TOKEN_URL = "/oauth/token/"
_OPERATIONS = frozenset({"get", "put", "post", "delete", "options", "head", "patch", "trace"})
_CONVERTOR = re.compile(r"\{(\w+):\w+\}")
#: A ``path`` parameter spans segments: written twice around a ``/`` it is matched only by
#: a rule that spans them too.
_PATH_PARAM = re.compile(r"\{(\w+):path\}")


class OAuth2Scheme(SecurityBase):
    """The OAuth 2 security scheme as FastAPI sees it; checks the token for the scopes asked.

    FastAPI hands it every scope declared on the way down (``SecurityScopes``): the
    ``RequireScopes(...)`` scopes and those of each ``Security(..., scopes=[...])``.
    """

    def __init__(self, *, realm: str = "api", scheme_name: str = SCHEME_NAME) -> None:
        self.realm = realm
        self.scheme_name = scheme_name
        self.model = OAuth2Model(flows=OAuthFlows(
            authorizationCode=OAuthFlowAuthorizationCode(
                authorizationUrl=DEFAULT_AUTHORIZATION_URL, tokenUrl=DEFAULT_TOKEN_URL,
                scopes={}),
            clientCredentials=OAuthFlowClientCredentials(tokenUrl=DEFAULT_TOKEN_URL, scopes={}),
        ))

    async def __call__(self, request: HTTPConnection,
                       security_scopes: SecurityScopes) -> AccessToken:
        return checked_token(request, security_scopes.scopes, self.realm)


def document_oauth(
    app: FastAPI,
    server: AuthorizationServer,
    *,
    scopes: Mapping[str, ScopeSpec] | None = None,
    scheme_name: str = SCHEME_NAME,
) -> None:
    """Make ``app.openapi()`` declare ``server``'s flows and every protected operation.

    ``scopes`` is the middleware's mapping; by default it is read from the
    ``OAuthMiddleware`` added with ``app.add_middleware``, so nothing is written
    twice. The schema is completed when first generated, after every route exists.
    """
    mapping = _mapping(app) if scopes is None else scopes
    generate: Callable[[], dict[str, Any]] = app.openapi
    rules: list[Rule] = []
    templates: dict[str, list[str]] = {}

    def openapi() -> dict[str, Any]:
        schema = generate()
        if not rules:
            rules.extend(ScopePolicy(mapping).bind(app.routes))
            for info in walk_routes(app.routes):
                templates.setdefault(_CONVERTOR.sub(r"{\1}", info.template), []).append(
                    info.template)
        _document(schema, rules, templates, server, scheme_name)
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def _mapping(app: FastAPI) -> Mapping[str, ScopeSpec] | None:
    for middleware in app.user_middleware:
        factory: object = middleware.cls
        if factory is OAuthMiddleware:
            return cast("Mapping[str, ScopeSpec] | None", middleware.kwargs.get("scopes"))
    return None


def _document(schema: dict[str, Any], rules: list[Rule], templates: dict[str, list[str]],
              server: AuthorizationServer, name: str) -> None:
    """Add the mapping's scopes to each operation (idempotent), then the scheme.

    ``templates``: the routes' own templates (convertors kept) by OpenAPI path."""
    operations = [(path, method, operation)
                  for path, item in schema.get("paths", {}).items()
                  for method, operation in item.items() if method in _OPERATIONS]
    for path, method, operation in operations:
        required = _required(rules, method.upper(), templates.get(path, [path]))
        if required is not None:
            _require(operation, name, sorted(required))
    used = {scope for _, _, operation in operations
            for requirement in operation.get("security", ()) for scope in requirement.get(name, ())}
    used.update(scope for rule in rules for scope in rule.scopes)  # documented or not
    schemes = schema.setdefault("components", {}).setdefault("securitySchemes", {})
    schemes[name] = _scheme(server, sorted(used))


def _required(rules: Iterable[Rule], method: str, templates: list[str]
              ) -> frozenset[str] | None:
    """The first rule for ``method`` covering every request to routes of these templates,
    as the middleware matches requests (method-specific rules first, HEAD as GET).

    A rule covers a template it equals or whose regex matches it: ``{id}`` matches the
    text ``{item_id:int}`` (a str rule covers an int route), ``{id:int}`` does not match
    ``{item_id}`` (an int rule leaves ``/items/abc`` open: not documented as protected).
    """
    method = "GET" if method == "HEAD" else method
    for rule in rules:
        if (rule.method is None or rule.method == method) and all(
                rule.template == template or rule.regex.match(_PATH_PARAM.sub(r"{\1}/{\1}",
                                                                             template))
                for template in templates):
            return rule.scopes
    return None


def _require(operation: dict[str, Any], name: str, scopes: list[str]) -> None:
    security: list[dict[str, list[str]]] = operation.setdefault("security", [])
    for requirement in security:
        if name in requirement:
            requirement[name] += [s for s in scopes if s not in requirement[name]]
            return
    security.append({name: scopes})


def _scheme(server: AuthorizationServer, scopes: list[str]) -> dict[str, Any]:
    """The Security Scheme Object: the flows the server allows, at its issuer's URLs."""
    config = server.config
    described = {scope: scope_title(scope) for scope in scopes}
    token_url = config.url("token/")
    flows: dict[str, Any] = {}
    if "authorization_code" in config.grant_types:
        flows["authorizationCode"] = {"authorizationUrl": config.url("auth/"),
                                      "tokenUrl": token_url, "scopes": described}
        if "refresh_token" in config.grant_types:
            flows["authorizationCode"]["refreshUrl"] = token_url
    if "client_credentials" in config.grant_types:
        flows["clientCredentials"] = {"tokenUrl": token_url, "scopes": described}
    return {"type": "oauth2", "flows": flows,
            "description": "OAuth 2.0 bearer tokens; the authorization code flow needs PKCE "
                           "(S256) from public clients."}
