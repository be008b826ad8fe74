"""Misconfiguration fails at start: every constructor option checked, named with its value and fix.

Each public constructor (``OAuthMiddleware``, ``AuthorizationServer``, ``AdminApp``,
``register_client``, ``ensure_client``) calls :func:`check_options` with its own
table, in one line, before it builds anything, so a wrong type is reported as the
option the user wrote (``grants='client_credentials' is one string …``) rather than
as whatever fails later (``unknown grant type(s): _, a, c, d…``). Two checks need
more than the arguments: a scope-mapping key that matches no route (once the
middleware sees the app's routes, :func:`check_scope_keys`) and an issuer whose
path is not where the server is mounted (on its first request, :func:`check_mount`).
Secret values (``secret_key``, ``client_secret``) are never shown, only their type, nor
the password or query of a Redis URL given as the store.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Collection, Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit

from starlette.routing import compile_path
from starlette.types import Receive, Send

from oauth_middleware.metrics.sink import Metrics
from oauth_middleware.scopes import AUTO, ScopePolicy, walk_routes
from oauth_middleware.store import TokenStore


class ConfigurationError(TypeError, ValueError):
    """An option of the wrong type or value; the message names it, its value and the fix.

    Both a ``TypeError`` and a ``ValueError``, so code catching either (as callers of
    the constructors did before these checks) still catches it.
    """


#: A check returns None when the value is fine, else what was expected (and the fix).
Check = Callable[[Any], str | None]
#: Options whose value is never shown in a message.
SECRETS = frozenset({"secret_key", "client_secret"})
_SHOWN = 60


def shown(name: str, value: Any) -> str:
    """How a message shows a value: never a secret, never a whole huge one."""
    if name in SECRETS and value is not None:
        return f"<a {type(value).__name__} (value hidden)>"
    text = repr(hidden_url(value) if name == "store" and isinstance(value, str) else value)
    return text if len(text) <= _SHOWN else f"{text[:_SHOWN]}…"


def hidden_url(url: str) -> str:
    """A URL as a message shows it: without its user-info (an ACL password) or its query
    (redis-py reads ``?password=`` there), which a configuration error must never print."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    _, at, place = rest.rpartition("@")  # the last "@": a raw one may be in the password
    place, query, _ = place.partition("?")
    return f"{scheme}://{'…@' if at else ''}{place.partition('#')[0]}{'?…' if query else ''}"


def check_options(owner: str, table: Mapping[str, Check], options: Mapping[str, Any]) -> None:
    """Raise :class:`ConfigurationError` for the first option of ``table`` that fails its check.

    ``options`` is the constructor's ``locals()``: names it does not have are skipped,
    so a constructor gaining or losing an option needs no change here to keep working.
    """
    for name, check in table.items():
        if name not in options:
            continue
        expected = check(options[name])
        if expected is not None:
            value = options[name]
            raise ConfigurationError(f"{owner}: {name}={shown(name, value)} "
                                     f"({type(value).__name__}) is wrong: {expected}")


def flag(value: Any) -> str | None:
    return None if isinstance(value, bool) else "pass True or False (not a string or a number)"


def text(value: Any) -> str | None:
    if isinstance(value, str) and value.strip():
        return None
    return "pass a non-empty string"


def optional_text(value: Any) -> str | None:
    return None if value is None or isinstance(value, str) else "pass a string or None"


def string(value: Any) -> str | None:
    """A string (what it may contain is the constructor's own check)."""
    return None if isinstance(value, str) else "pass a string"


def whole(value: Any) -> str | None:
    """A whole number (its range is the constructor's own check, with its own message)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return None
    return "pass a whole number (not a string, a float or a bool)"


def positive(value: Any) -> str | None:
    """A whole number of at least 1, for options no other check bounds."""
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return None
    return "pass a whole number, at least 1"


def optional(check: Check, meaning: str) -> Check:
    """``check``, or None, which means ``meaning``."""
    def checked(value: Any) -> str | None:
        if value is None:
            return None
        expected = check(value)
        return None if expected is None else f"{expected}, or None for {meaning}"
    return checked


def names(example: str) -> Check:
    """A collection of strings, never one string (which would be taken letter by letter)."""
    def checked(value: Any) -> str | None:
        if isinstance(value, str):
            return f"that is one string, not a list: pass [{value!r}]"
        if isinstance(value, bytes | Mapping) or not isinstance(value, Iterable):
            return f"pass a list of strings, e.g. {example}"
        if not _all_strings(value):
            return f"every item must be a string, e.g. {example}"
        return None
    return checked


def resources(value: Any) -> str | None:
    """One resource URI or several (RFC 8707 §2); their form is the constructor's check."""
    if value is None or isinstance(value, str):
        return None
    return names('["https://api.example.com/mcp"]')(value)


def _all_strings(values: Iterable[Any]) -> bool:
    """True unless a collection holds a non-string; a one-shot iterator is left unread
    (reading it here would leave the constructor an empty one)."""
    return not isinstance(values, Collection) or all(isinstance(v, str) for v in values)


def function(example: str) -> Check:
    def checked(value: Any) -> str | None:
        return None if callable(value) else f"pass a function (sync or async), e.g. {example}"
    return checked


_AUTHENTICATE = function("authenticate=lambda request: request.session.get('user')")


def store(value: Any) -> str | None:
    """The one shared store. A URL is refused rather than connected to: the middleware,
    the server and the admin must share one store (one pool, one clock, one cache and
    the same grant caps), and the app, not each constructor, owns its lifetime."""
    if isinstance(value, TokenStore):
        return None
    if isinstance(value, str):
        return (f"pass a store, not a URL: store=TokenStore.from_url({hidden_url(value)!r}), "
                "created once and shared by the middleware, the server and the admin")
    return "pass a TokenStore, e.g. TokenStore.from_url(os.environ.get('REDIS_URL'))"


def metrics_sink(value: Any) -> str | None:
    """None (no metrics) or a sink, e.g. ``PrometheusMetrics(store)``."""
    if value is None or isinstance(value, Metrics):
        return None
    return ("pass None or a metrics sink, e.g. "
            "oauth_middleware.metrics.prometheus.PrometheusMetrics(store)")


def store_or_verifier(value: Any) -> str | None:
    """The middleware's store, which may be left out when a ``verifier=`` resolves tokens."""
    expected = None if value is None else store(value)
    return None if expected is None else f"{expected}, or None when verifier= is given"


def secret_key(value: Any) -> str | None:
    if value is None or isinstance(value, str | bytes):
        return None
    return "pass a string or bytes of at least 32 bytes, e.g. os.environ['OAUTH_SECRET_KEY']"


def directory(value: Any) -> str | None:
    if value is None or isinstance(value, str | os.PathLike):
        return None
    return "pass a directory path (str or pathlib.Path) or None"


def throttle(value: Any) -> str | None:
    """A ``ThrottlePolicy``, known by its fields: this module imports nothing of ``server/``,
    since the middleware imports it and the two never import each other (DESIGN)."""
    if value is None or all(hasattr(value, name) for name in _THROTTLE_FIELDS):
        return None
    return "pass ThrottlePolicy(...) (from oauth_middleware.server.config) or None"


def signing_keys(value: Any) -> str | None:
    """A key ring (:class:`~oauth_middleware.signing.SigningKeys`), known by its members."""
    if value is None or all(hasattr(value, name) for name in _SIGNING_MEMBERS):
        return None
    return "pass a SigningKeys key ring (oauth_middleware.signing) or None"


_SIGNING_MEMBERS = ("algorithms", "signing_key", "public_jwks")


def openid(value: Any) -> str | None:
    """An ``OpenIDProvider`` or None (no OpenID Connect), known by its fields as ``throttle``."""
    if value is None or all(hasattr(value, name) for name in _OPENID_FIELDS):
        return None
    return "pass OpenIDProvider(...) (from oauth_middleware.server.oidc) or None"


def token_exchange(value: Any) -> str | None:
    """A ``TokenExchangePolicy`` or None (no token exchange), known by its fields."""
    if value is None or all(hasattr(value, name) for name in ("trusted_issuers", "clients")):
        return None
    return "pass TokenExchangePolicy(...) (from oauth_middleware.server) or None"


_OPENID_FIELDS = ("userinfo", "subject_type", "id_token_lifetime")
_THROTTLE_FIELDS = ("client_failures", "password_failures", "window", "attempt_timeout")


def registration(value: Any) -> str | None:
    """A ``RegistrationPolicy`` or None (disabled), known by its fields as ``throttle``."""
    if value is None or all(hasattr(value, name) for name in _REGISTRATION_FIELDS):
        return None
    return "pass RegistrationPolicy(...) (from oauth_middleware.server.config) or None"


_REGISTRATION_FIELDS = ("initial_access_token", "max_clients", "per_address", "window")


def client_metadata(value: Any) -> str | None:
    """A ``ClientMetadataPolicy`` or None (disabled), known by its fields as ``registration``."""
    if value is None or all(hasattr(value, name) for name in _DOCUMENT_FIELDS):
        return None
    return "pass ClientMetadataPolicy(...) (from oauth_middleware.server) or None"


_DOCUMENT_FIELDS = ("max_bytes", "timeout", "max_clients", "allowed_networks", "failure_ttl")


def redirect_uris(value: Any) -> str | None:
    if isinstance(value, str):
        return None
    return names('["https://app.example/callback"]')(value)


def scope_mapping(value: Any) -> str | None:
    """``{"GET /path": "scope" | ["a", "b"] | AUTO}``; each value's type named with its key."""
    if value is None:
        return None
    if not isinstance(value, Mapping):
        return 'pass a dict of route to scope, e.g. {"/polls/{poll_id}": "polls:read"}'
    for key, spec in value.items():
        if not isinstance(key, str):
            return f"key {key!r} must be a string such as 'POST /polls/{{poll_id}}/vote'"
        if spec is AUTO or isinstance(spec, str):
            continue
        entry = f"the value for {key!r} is {shown('', spec)} ({type(spec).__name__})"
        if isinstance(spec, bytes | Mapping) or not isinstance(spec, Iterable):
            return f'{entry}: pass a scope such as "polls:read", a list of scopes, or AUTO'
        if not _all_strings(spec):
            return f'{entry}: every scope in the list must be a string such as "polls:read"'
    return None


def check_scope_keys(owner: str, policy: ScopePolicy, routes: Iterable[Any]) -> None:
    """Refuse a mapping key that matches none of the app's routes: a typo there would leave
    the real route unprotected (``AUTO`` already refuses the same).

    A key under a mount whose routes are not known (a mounted sub-app that is not a
    Starlette router, such as a WSGI app or static files) is accepted.
    """
    routes = list(routes)
    templates = [(info.template, info.methods) for info in walk_routes(routes)]
    opaque = list(_opaque_mounts(routes))
    for method, template in policy.declared_keys:
        if method == "HEAD":
            raise ConfigurationError(
                f"{owner}: scopes key 'HEAD {template}' never applies: a HEAD request is "
                f"matched as GET, so write 'GET {template}' (it covers HEAD too)")
        for route, _ in templates:
            _refuse_narrower(owner, method, template, route)
        if any(_overlaps(template, route) and (method is None or methods is None
                                              or method in methods)
               for route, methods in templates):
            continue
        if any(template == prefix or template.startswith(prefix + "/") for prefix in opaque):
            continue
        key = f"{method} {template}" if method else template
        known = sorted({route for route, _ in templates})[:5]
        raise ConfigurationError(
            f"{owner}: scopes key {key!r} matches no route of the app, so it protects "
            f"nothing: fix the path (or method) to one of the app's routes, e.g. "
            f"{', '.join(map(repr, known)) or 'none found'}")


def wrapped_routes(app: Any) -> list[Any] | None:
    """The routes of the first app with routes below ``app``, through the middlewares in
    between (each keeps the next as ``.app``); None when there is none to look into."""
    for _ in range(_MAX_LAYERS):
        routes = getattr(app, "routes", None)
        if routes is not None:
            return list(routes)
        app = getattr(app, "app", None)
        if app is None:
            return None
    return None


#: Middlewares looked through by :func:`wrapped_routes` before giving up.
_MAX_LAYERS = 32


def _opaque_mounts(routes: Iterable[Any], prefix: str = "") -> Iterable[str]:
    """Mount prefixes whose app has no routes to look into (walked as ``walk_routes`` does)."""
    for route in routes:
        path = prefix + getattr(route, "path", "")
        if hasattr(route, "endpoint") or getattr(route, "original_router", None) is not None:
            continue
        children = getattr(route, "routes", None)
        if children:
            yield from _opaque_mounts(children, path)
        elif hasattr(route, "app"):
            yield path.rstrip("/")


#: A sample value per Starlette path convertor, to test whether two templates can meet.
_SAMPLES = {"str": "x", "path": "x", "int": "0", "float": "0.0",
            "uuid": "00000000-0000-0000-0000-000000000000"}


def _sample(template: str) -> str:
    _, path_format, convertors = compile_path(template)
    return path_format.format(**{
        name: _SAMPLES.get(type(conv).__name__.removesuffix("Convertor").lower(), "x")
        for name, conv in convertors.items()})


#: A value each convertor's route takes that a narrower convertor refuses ("x" is no int).
_BROAD = {"str": "x", "path": "x/x", "int": "0", "float": "0.0",
          "uuid": "00000000-0000-0000-0000-000000000000"}
_CONVERTOR = re.compile(r"\{(\w+)(?::\w+)?\}")


def _refuse_narrower(owner: str, method: str | None, key: str, route: str) -> None:
    """Refuse a key that is the route's own template with a narrower convertor:
    ``"/orders/{order_id:int}"`` over ``/orders/{order_id}`` left ``/orders/+5`` open,
    which FastAPI still parses as order 5."""
    if key == route or _CONVERTOR.sub(r"{\1}", key) != _CONVERTOR.sub(r"{\1}", route):
        return
    _, path_format, convertors = compile_path(route)
    sample = path_format.format(**{
        name: _BROAD.get(type(conv).__name__.removesuffix("Convertor").lower(), "x")
        for name, conv in convertors.items()})
    if compile_path(key)[0].match(sample):
        return
    shown_key = f"{method} {key}" if method else key
    raise ConfigurationError(
        f"{owner}: scopes key {shown_key!r} covers only part of the route {route!r}: "
        f"{sample!r} reaches the route unprotected (and the framework may still parse "
        f"'+5' or '1.0' as a number there); write the key as the route's template, "
        f"{route!r}")


def _overlaps(key: str, route: str) -> bool:
    """True when some path matches both templates (tested with each one's sample path)."""
    if key == route:
        return True
    return bool(compile_path(key)[0].match(_sample(route))
                or compile_path(route)[0].match(_sample(key)))


async def fail_startup(receive: Receive, send: Send, exc: Exception) -> None:
    """Answer the lifespan startup with the failure and its message, as Starlette's router
    does, so the server stops there: uvicorn's default lifespan mode takes a bare exception
    for "lifespan unsupported" and would serve (and fail) every request instead."""
    if (await receive())["type"] == "lifespan.startup":
        await send({"type": "lifespan.startup.failed", "message": str(exc)})


def check_mount(issuer: str, root_path: str) -> None:
    """Refuse to serve when the issuer's path is not where the server is mounted: the metadata
    and every redirect are built from the issuer (RFC 8414 §2), so they would point elsewhere.

    The issuer may carry more in front (a proxy that strips a prefix), never less.
    """
    issuer_path = urlsplit(issuer).path.rstrip("/")
    mount = root_path.rstrip("/")
    if mount and not issuer_path.endswith(mount):
        raise ConfigurationError(
            f"AuthorizationServer: issuer={issuer!r} does not match the path it is mounted "
            f"at ({root_path!r}), so its metadata would advertise wrong URLs: mount it at "
            f"{issuer_path or '/'!r} or set issuer to end with {mount!r}")


_NEVER = "never expiring"

#: ``OAuthMiddleware(...)``'s options.
MIDDLEWARE: dict[str, Check] = {
    "store": store_or_verifier, "scopes": scope_mapping, "realm": text,
    "header": flag,
    "form_body": flag, "query": flag, "debug": flag, "max_body_size": positive,
    "retry_after": positive, "require_audience": flag, "public_url": optional_text,
    "dpop_nonce": optional(whole, "no DPoP nonces"), "require_dpop": flag,
    "metrics": metrics_sink,
}
#: ``AuthorizationServer(...)``'s options (their values are checked by ``ServerConfig``).
SERVER: dict[str, Check] = {
    "store": store, "issuer": string, "secret_key": secret_key, "login_url": string,
    "authenticate": _AUTHENTICATE,
    "verify_password": optional(function("verify_password=check_password"), "no password grant"),
    "debug": flag, "grants": optional(names('["authorization_code", "refresh_token"]'),
                                      "every grant type"),
    "require_pkce": flag, "code_lifetime": whole, "consent_lifetime": whole,
    "max_pending_consents": whole, "refresh_lifetime": optional(whole, _NEVER),
    "throttle": throttle, "templates": directory, "introspection_scope": optional_text,
    "registration": registration, "client_metadata_documents": client_metadata,
    "default_resource": resources, "signing_keys": signing_keys, "openid": openid,
    "remember_consent": optional(whole, "asking every time"), "max_remembered_consents": whole,
    "logout": optional(function("logout=end_session"), "no end_session/ endpoint"),
    "par_lifetime": whole, "max_pushed_requests": whole, "require_par": flag,
    "token_exchange": token_exchange,
    "dpop_nonce": optional(whole, "no DPoP nonces"),
    "metrics": metrics_sink,
}
#: ``AdminApp(...)``'s options.
ADMIN: dict[str, Check] = {
    "store": store, "is_admin": function("is_admin=lambda request: request.user.is_admin"),
    "secret_key": secret_key, "login_url": string,
    "authenticate": _AUTHENTICATE, "debug": flag, "page_size": whole, "title": string,
}
#: ``ConnectedAppsApp(...)``'s options.
ACCOUNT: dict[str, Check] = {
    "store": store, "secret_key": secret_key, "login_url": string,
    "authenticate": _AUTHENTICATE, "debug": flag, "retry_after": positive,
}
#: ``register_client(...)`` and ``ensure_client(...)``'s options.
REGISTRATION: dict[str, Check] = {
    "store": store, "title": string, "identifier": optional_text, "client_id": string,
    "redirect_uri": redirect_uris, "redirect_uris": redirect_uris,
    "scopes_list": optional(names('["polls:read"]'), "no scope list (any enabled scope)"),
    "register_unknown_scopes": flag,
    "token_lifetime": optional(whole, _NEVER), "public": flag,
    "grant_types": optional(names('["client_credentials"]'), "the default grants"),
    "description": string, "link": string, "allow_http": flag,
    "allow_plain_pkce": flag, "replace_existing": flag,
    "client_secret": optional_text, "allow_confidential_implicit": flag,
    "resources": names('["https://api.example.com/mcp"]'),
    "post_logout_redirect_uris": redirect_uris,
    "access_token_format": string, "access_token_alg": optional_text,
    "id_token_signed_response_alg": string,
    "require_pushed_authorization_requests": flag, "require_dpop": flag,
}
