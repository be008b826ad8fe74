"""Protected-resource metadata (RFC 9728 §2-3), its ``resource_metadata`` challenge (§5.1).

A client refused with 401 learns from the challenge's ``resource_metadata`` where the
resource describes itself: its identifier, the authorization servers that issue its
tokens, the scopes its routes need and how it takes a bearer token. The MCP
authorization spec makes that discovery mandatory.

Everything here comes from configuration, never from the request: the metadata URL
of a challenge and the document's ``resource`` (§3.3: a client MUST check it is the
identifier it started from), so a spoofed ``Host`` header changes neither. The
identifier is checked once, at construction: an absolute ``https`` URL (``http`` only
for a loopback host, for local development) without query, fragment or userinfo,
made only of characters a URI allows — so it goes into a quoted-string as it is.

The document is served at the path-inserted well-known URI of §3.1 (resource
``https://h/mcp`` -> ``https://h/.well-known/oauth-protected-resource/mcp``), public and
cacheable for :data:`MAX_AGE` seconds, to GET and HEAD only.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import unquote, urlsplit

from starlette.routing import compile_path
from starlette.types import Scope, Send

from oauth_middleware.errors import InvalidToken
from oauth_middleware.models import AccessToken
from oauth_middleware.scopes import Rule, walk_routes
from oauth_middleware.settings_checks import ConfigurationError
from oauth_middleware.transport import is_loopback_host

#: RFC 9728 §3: the well-known URI suffix, inserted between the host and the path.
WELL_KNOWN = "/.well-known/oauth-protected-resource"
#: Seconds a client or a shared cache may keep the document (it holds no secret).
MAX_AGE = 300
#: Where the middleware leaves the metadata URL for the layers below it (the decorator
#: and ``RequireScopes``), so their refusals point to it too.
RESOURCE_METADATA_KEY = "oauth.resource_metadata"
#: RFC 3986 §2: the characters a URI may hold (no space, quote, backslash or control).
_URI_CHARS = re.compile(r"[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]+")
_MAX_URL = 2048
_MAX_NAME = 200
#: RFC 6749 §3.3: a scope token.
_SCOPE_TOKEN = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]{1,200}")
#: RFC 6750 §2: the token sources, as RFC 9728 §2 names them.
BEARER_METHODS = ("header", "body", "query")


def checked_url(name: str, value: object, *, query: bool = False) -> str:
    """``value`` when it is an absolute https URL (http for a loopback host), else the
    :class:`ConfigurationError` naming ``name`` and the fix."""
    if not isinstance(value, str) or not value:
        raise ConfigurationError(f"{name}={value!r} is wrong: pass an absolute https URL, "
                                 "e.g. 'https://api.example.com/mcp'")
    parts = urlsplit(value)
    problem = (
        "is too long" if len(value) > _MAX_URL
        else "has a character a URL may not hold" if not _URI_CHARS.fullmatch(value)
        else "has a fragment (#)" if "#" in value
        else "has a query (?)" if "?" in value and not query
        else "has user information (@)" if "@" in parts.netloc
        else "has no host" if not parts.hostname
        else None if parts.scheme == "https"
        else None if parts.scheme == "http" and is_loopback_host(parts.netloc.encode())
        else "is not https (http only for localhost)"
    )
    if problem:
        raise ConfigurationError(f"{name}={value[:80]!r} {problem}: pass an absolute https "
                                 "URL, e.g. 'https://api.example.com/mcp'")
    return value


@dataclass(frozen=True, slots=True)
class ProtectedResource:
    """A protected resource as RFC 9728 describes it; ``identifier`` is its ``resource``.

    ``authorization_servers`` are the issuers of its tokens (``OAuth`` fills in its own
    issuer); ``name`` and ``documentation`` are the document's optional
    ``resource_name`` and ``resource_documentation``. ``scopes`` are advertised in
    ``scopes_supported`` besides those the mapping requires: scopes the app checks itself
    where the middleware cannot see the operation (an MCP server's tools, all behind one
    ``POST /mcp``).
    """

    identifier: str
    authorization_servers: Sequence[str] = ()
    name: str | None = None
    documentation: str | None = None
    scopes: Sequence[str] = ()
    #: The well-known URL of the document and the (decoded) path it answers at.
    metadata_url: str = field(init=False)
    metadata_path: str = field(init=False)

    def __post_init__(self) -> None:
        checked_url("resource", self.identifier)
        servers = self.authorization_servers
        if isinstance(servers, str):
            raise ConfigurationError(f"authorization_servers={servers!r} is one string, not "
                                     f"a list: pass [{servers!r}]")
        servers = tuple(checked_url("authorization_servers", s) for s in servers)
        object.__setattr__(self, "authorization_servers", servers)
        if self.documentation is not None:
            checked_url("documentation", self.documentation, query=True)
        if self.name is not None and (not isinstance(self.name, str) or not self.name.strip()
                                      or len(self.name) > _MAX_NAME
                                      or not self.name.isprintable()):
            raise ConfigurationError(f"name={self.name!r} is wrong: pass a short printable "
                                     "name, e.g. 'Polls MCP server'")
        if isinstance(self.scopes, str) or not all(
                isinstance(s, str) and _SCOPE_TOKEN.fullmatch(s) for s in self.scopes):
            raise ConfigurationError(f"scopes={self.scopes!r} is wrong: pass a list of scope "
                                     "names (RFC 6749 §3.3), e.g. ['polls:vote']")
        object.__setattr__(self, "scopes", tuple(self.scopes))
        parts = urlsplit(self.identifier)
        path = WELL_KNOWN + ("" if parts.path == "/" else parts.path)
        object.__setattr__(self, "metadata_url", f"{parts.scheme}://{parts.netloc}{path}")
        object.__setattr__(self, "metadata_path", unquote(path))


def protected_resource(value: object, issuer: str | None = None) -> ProtectedResource | None:
    """A middleware's ``resource=`` option as a :class:`ProtectedResource` (None: none);
    ``issuer`` becomes its authorization server when it names none itself."""
    if value is None:
        return None
    if isinstance(value, str):
        value = ProtectedResource(value)
    if not isinstance(value, ProtectedResource):
        raise ConfigurationError(f"resource={value!r} is wrong: pass the resource's URL, e.g. "
                                 "'https://api.example.com/mcp', or a ProtectedResource")
    if issuer is not None and not value.authorization_servers:
        value = replace(value, authorization_servers=(issuer,))
    return value


def document(resource: ProtectedResource, rules: Iterable[Rule],
             sources: Sequence[bool]) -> dict[str, Any]:
    """The metadata (RFC 9728 §2): the scopes are those the bound routes need."""
    doc: dict[str, Any] = {"resource": resource.identifier}
    if resource.authorization_servers:
        doc["authorization_servers"] = list(resource.authorization_servers)
    doc["scopes_supported"] = sorted({scope for rule in rules for scope in rule.scopes}
                                     | set(resource.scopes))
    doc["bearer_methods_supported"] = [
        method for method, on in zip(BEARER_METHODS, sources, strict=True) if on]
    if resource.name is not None:
        doc["resource_name"] = resource.name
    if resource.documentation is not None:
        doc["resource_documentation"] = resource.documentation
    return doc


def shadowed(resource: ProtectedResource, routes: Iterable[Any]) -> bool:
    """Whether one of the app's own routes answers the metadata path: then the app's
    route is served, never hidden by the middleware."""
    return any(compile_path(info.template)[0].match(resource.metadata_path)
               for info in walk_routes(routes))


async def send_document(doc: dict[str, Any], send: Send, *, head: bool = False) -> None:
    """The document as a public JSON answer, briefly cacheable, readable from any origin
    (it holds nothing a credential protects)."""
    body = json.dumps(doc).encode("ascii")
    headers = [(b"content-type", b"application/json"),
               (b"content-length", str(len(body)).encode()),
               (b"cache-control", f"public, max-age={MAX_AGE}".encode()),
               (b"access-control-allow-origin", b"*")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": b"" if head else body})


async def send_preflight_answer(send: Send) -> None:
    """A CORS preflight's answer (Fetch §4.8): browser clients send headers of their own
    (``MCP-Protocol-Version``) with the GET, and no credentials, so any origin may."""
    await send({"type": "http.response.start", "status": 204, "headers": [
        (b"access-control-allow-origin", b"*"),
        (b"access-control-allow-methods", b"GET, HEAD"),
        (b"access-control-allow-headers", b"*"),
        (b"access-control-max-age", str(MAX_AGE).encode())]})
    await send({"type": "http.response.body", "body": b""})


def serves(resource: ProtectedResource | None, scope: Scope) -> bool:
    """Whether this request asks for ``resource``'s metadata (an HTTP request to its path)."""
    return (resource is not None and scope["type"] == "http"
            and scope["path"] == resource.metadata_path)


def check_audience(token: AccessToken, resource: ProtectedResource,
                   require_audience: bool) -> None:
    """RFC 8707 §2 (resource side): a token meant for other resources is ``invalid_token``,
    so a token minted for one server cannot be replayed at another. A token with no
    recorded audience passes unless ``require_audience``: tokens minted before their
    grants bound resources, or for a client that named none, record none."""
    if token.audience:
        if resource.identifier not in token.audience:
            raise InvalidToken("The access token is not meant for this resource.")
    elif require_audience:
        raise InvalidToken("The access token names no audience.")
