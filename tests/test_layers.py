"""DESIGN.md's import rules, checked on the source with ``ast``: who may import whom.

The table below is the one place the rules are written as data. A unit is a top-level
module or package of ``oauth_middleware``. An import not in the table fails here, so
a new dependency between layers is a decision someone makes in this file, not an
accident found in review.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import oauth_middleware
from oauth_middleware.store import TokenStore
from tests.source_trees import parse

PACKAGE = Path(oauth_middleware.__file__).parent

_LEAVES = ("errors", "signing", "security", "limits", "redaction", "redirects", "hooks", "body",
           "content_length", "transport", "safe_fetch", "tracing", "typed_text")
#: Which units each unit may import (DESIGN.md "Layers"); a leaf imports nothing of ours.
MAY_IMPORT: dict[str, frozenset[str]] = {
    **{leaf: frozenset() for leaf in _LEAVES},
    "models": frozenset({"limits"}),
    "extraction": frozenset({"errors"}),
    "scopes": frozenset({"errors"}),
    "identity": frozenset({"extraction", "models"}),
    "csrf": frozenset({"security"}),
    "pkce": frozenset({"errors", "models", "security"}),
    # One rendering of every refusal (status, WWW-Authenticate, JSON body, no-store).
    "error_response": frozenset({"errors"}),
    # RFC 9728 metadata and the audience check, for the middleware and the layers after it.
    "resource_metadata": frozenset({"errors", "models", "scopes", "settings_checks",
                                    "transport"}),
    # CORS preflights to protected routes: a CORS answer or the refusal.
    "preflight": frozenset({"error_response"}),
    # Why the middleware refused or ignored a token, for the layers after it.
    "verdict": frozenset({"errors", "models"}),
    # Where signing keys come from: the store (sealed) or files; joserfc imported lazily.
    "keyring": frozenset({"limits", "settings_checks", "signing", "store"}),
    # The audit trail: events built, checked and written through the store.
    "audit": frozenset({"request_id", "store"}),
    # The store: no HTTP, no OAuth policy, no management layer.
    "store": frozenset({"limits", "models", "security"}),
    # Pure rules both the server and the toolbox apply (RFC 6749 §3.3).
    "policy": frozenset({"errors", "models", "store", "typed_text"}),
    # RFC 8707 resource indicators: which audience a grant gets (the server and the toolbox).
    "resource_indicators": frozenset({"errors", "models"}),
    # The middleware's token-source protocol; TokenStore is one source.
    "verifier": frozenset({"models", "store"}),
    # Constructor options checked at start (every public constructor calls it).
    "settings_checks": frozenset({"metrics", "scopes", "store"}),
    # What the middleware and the server count; the Prometheus sink reads the store's counts.
    "metrics": frozenset({"errors", "store"}),
    # The request id of the request being served, its header and log filter: nothing of ours.
    "request_id": frozenset(),
    # configure_logging(): the library's handler, its formatters and the request-id filter.
    "logs": frozenset({"request_id"}),
    # /healthz and /readyz: the store's readiness checks.
    "health": frozenset({"store"}),
    # Web helpers both the server and the admin use.
    "web": frozenset({"identity", "typed_text"}),
    # The resource server: never the authorization server, nor the management layer.
    # DPoP proofs (RFC 9449), checked for both halves: the token endpoint and the middleware.
    "dpop": frozenset({"errors", "extraction", "models", "security", "store", "verifiers"}),
    "middleware": frozenset({"body", "dpop", "error_response", "errors", "extraction",
                             "identity", "metrics", "models", "preflight", "redaction",
                             "resource_metadata", "scopes", "settings_checks", "store",
                             "tracing", "transport", "verdict", "verifier"}),
    "decorators": frozenset({"error_response", "errors", "middleware", "models",
                             "resource_metadata", "scopes", "verdict"}),
    # openapi: imported lazily, only when FastAPI asks for the dependency's signature.
    "dependencies": frozenset({"error_response", "errors", "middleware", "models", "openapi",
                               "resource_metadata", "scopes", "verdict"}),
    # The FastAPI integration: the scheme, the mapping's scopes, the server's URLs (typing
    # only) and the registered scopes' titles from the toolbox.
    "openapi": frozenset({"dependencies", "middleware", "models", "scopes", "server",
                          "toolbox"}),
    "wsgi": frozenset({"middleware", "models", "scopes", "store"}),
    # The management layer.
    "toolbox": frozenset({"audit", "keyring", "limits", "models", "pkce", "policy", "redirects",
                          "resource_indicators", "scopes", "security", "settings_checks",
                          "signing", "store"}),
    "scope_registry": frozenset({"models", "scopes", "store", "toolbox"}),
    "discovery": frozenset({"dependencies", "middleware", "scope_registry", "scopes", "store"}),
    # The authorization server: never the middleware, the toolbox, the CLI or the admin.
    "server": frozenset({"audit", "content_length", "csrf", "dpop", "error_response", "errors",
                         "extraction", "hooks", "identity", "keyring", "limits", "metrics",
                         "models", "pkce", "policy", "redaction", "redirects", "request_id",
                         "resource_indicators", "safe_fetch", "security", "settings_checks",
                         "signing", "store", "tracing", "transport", "verifier", "web"}),
    # The admin: the toolbox and the shared web helpers, never the server's internals.
    "admin": frozenset({"audit", "content_length", "csrf", "errors", "hooks", "identity", "limits",
                        "models", "redaction", "redirects", "request_id", "scope_registry",
                        "settings_checks", "store", "toolbox", "transport", "web"}),
    # The connected-apps page: a person's own grants, through the store and the web helpers.
    "account": frozenset({"audit", "content_length", "csrf", "errors", "hooks", "identity",
                          "models", "redaction", "redirects", "request_id", "settings_checks",
                          "store", "transport", "web"}),
    # device-login (RFC 8628's reference client) applies the loopback rule to the issuer.
    "cli": frozenset({"audit", "discovery", "errors", "keyring", "limits", "models",
                      "scope_registry", "security", "store", "toolbox", "transport"}),
    # Token sources for other issuers' tokens (JWT, RFC 7662), beside the store.
    "verifiers": frozenset({"models", "security", "store", "transport"}),
    # The one configuration object: the composition root that hands out the three apps.
    "oauth": frozenset({"account", "admin", "audit", "middleware", "resource_metadata", "server",
                        "store",
                        "verifier", "web"}),
    "__main__": frozenset({"cli"}),
    "__init__": frozenset({"decorators", "dependencies", "errors", "identity", "middleware",
                           "models", "oauth", "resource_metadata", "scopes", "store", "toolbox",
                           "verifier", "verifiers"}),
}
#: The only part of the project that may import the Redis client libraries.
GATEWAY = "store/_gateway"
REDIS_LIBRARIES = frozenset({"redis", "fakeredis"})
#: Libraries that speak HTTP or render pages: the store and the pure rules use none.
HTTP_LIBRARIES = frozenset({"starlette", "jinja2", "httpx", "a2wsgi", "uvicorn", "fastapi"})


def _unit(path: Path) -> str:
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    return parts[0]


def _imports(path: Path) -> Iterator[tuple[int, str]]:
    """Every module ``path`` imports, absolute, with its line (``from pkg import mod`` names
    ``pkg.mod``; relative imports are resolved against the file's package)."""
    package = path.relative_to(PACKAGE.parent).with_suffix("").parts[:-1]
    for node in ast.walk(parse(path)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            base = ".".join(package[:len(package) - node.level + 1]) if node.level else ""
            module = ".".join(p for p in (base, node.module or "") if p)
            for alias in node.names:
                yield node.lineno, f"{module}.{alias.name}"


def _sources() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def _ours(module: str) -> list[str]:
    """``module``'s path inside the package (empty when it is not ours)."""
    parts = module.split(".")
    return parts[1:] if parts[0] == "oauth_middleware" else []


def _private_module(inner: list[str]) -> bool:
    """Whether ``inner`` passes through a ``_private`` module or package of ours (a private
    name imported from a public module is that module's own business)."""
    for depth in range(2, len(inner) + 1):
        part, where = inner[depth - 1], PACKAGE.joinpath(*inner[:depth])
        is_module = where.is_dir() or where.with_suffix(".py").is_file()
        if is_module and part.startswith("_") and not part.startswith("__"):
            return True
    return False


def test_every_unit_of_the_package_has_a_row_in_the_table() -> None:
    units = {_unit(path) for path in _sources()}
    assert units == set(MAY_IMPORT), units.symmetric_difference(MAY_IMPORT)


def test_each_unit_imports_only_the_units_the_table_allows() -> None:
    wrong = []
    for path in _sources():
        unit = _unit(path)
        for line, module in _imports(path):
            inner = _ours(module)
            if inner and inner[0] != unit and inner[0] not in MAY_IMPORT[unit]:
                wrong.append(f"{path.relative_to(PACKAGE)}:{line} imports {module}")
    assert wrong == []


def test_no_unit_reaches_past_another_units_public_names() -> None:
    """``store/__init__.__all__`` (and each package's) is the contract: nobody outside a
    package imports its ``_private`` modules."""
    wrong = []
    for path in _sources():
        unit = _unit(path)
        for line, module in _imports(path):
            inner = _ours(module)
            if inner and inner[0] != unit and _private_module(inner):
                wrong.append(f"{path.relative_to(PACKAGE)}:{line} imports {module}")
    assert wrong == []


def test_only_the_gateway_imports_the_redis_client() -> None:
    wrong = []
    for path in _sources():
        inside = path.relative_to(PACKAGE).as_posix().startswith(GATEWAY + "/")
        for line, module in _imports(path):
            if module.split(".")[0] in REDIS_LIBRARIES and not inside:
                wrong.append(f"{path.relative_to(PACKAGE)}:{line} imports {module}")
    assert wrong == []


def test_the_store_and_the_pure_rules_speak_no_http() -> None:
    wrong = []
    for path in _sources():
        if _unit(path) not in {"store", "policy", "resource_indicators", "limits", "models",
                              "security", "errors"}:
            continue
        for line, module in _imports(path):
            if module.split(".")[0] in HTTP_LIBRARIES:
                wrong.append(f"{path.relative_to(PACKAGE)}:{line} imports {module}")
    assert wrong == []


def test_the_middleware_and_the_authorization_server_never_import_each_other() -> None:
    assert "server" not in MAY_IMPORT["middleware"]
    assert "middleware" not in MAY_IMPORT["server"]
    assert not MAY_IMPORT["server"] & {"toolbox", "cli", "admin", "scope_registry"}
    assert "server" not in MAY_IMPORT["admin"]
    assert not MAY_IMPORT["store"] & {"policy", "server", "toolbox", "web", "middleware"}


#: ``TokenStore``'s public surface: the operations apps, the toolbox, the CLI, the admin and
#: the server use, and the server's two bookkeeping repositories. Plumbing stays ``_private``.
STORE_SURFACE = frozenset({
    "aclose", "check", "client_indexed", "clock", "consent", "count_dynamic_clients",
    "create_code", "create_scope", "documents",
    "delete_client", "dynamic_clients_last_used", "delete_scope", "embedded", "events",
    "from_url",
    "get_client", "get_scopes", "issue",
    "keys", "list_clients", "list_scopes", "list_tokens", "lookup", "read_for", "redeem_code",
    "register_dynamic_client", "resolve", "revoke_access", "revoke_client_tokens",
    "revoke_grant", "revoke_token",
    "revoke_user", "rotate_refresh", "save_client", "save_scope", "signing", "throttle",
    "touch_dynamic_client",
    # Monitoring: readiness checks (/readyz) and failure and cache counts (metrics).
    "ready", "stats",
    # Remembered consent (OpenID Connect Core 1.0 §3.1.2.4): the server writes, the admin and
    # the CLI list and forget.
    "forget_client_consents", "forget_consent", "list_remembered_consents",
    "remember_consent", "remembered_consent",
    # Device authorization requests (RFC 8628): the server's bookkeeping, like ``consent``.
    "device",
    # Pushed authorization requests (RFC 9126), the authorization server's bookkeeping.
    "pushed",
    # Token exchange (RFC 8693): an exchanged grant, linked under its subject's grant.
    "issue_exchanged",
    # DPoP (RFC 9449): the proofs' replay cache and the server's nonces.
    "dpop",
    # The connected-apps page: a person lists and revokes their own grants.
    "list_user_grants", "revoke_user_client", "revoke_user_grant",
})


def test_the_token_store_keeps_its_small_documented_surface() -> None:
    store = TokenStore.from_url(None)
    public = {name for name in dir(store) if not name.startswith("_")}
    assert public == STORE_SURFACE, public.symmetric_difference(STORE_SURFACE)
    undocumented = [name for name in public if callable(getattr(TokenStore, name, None))
                    and not getattr(TokenStore, name).__doc__]
    assert undocumented == []
