"""The scopes an app's routes need (RFC 6749 §3.3): oauthost's ``syncscopes`` for ASGI apps.

Discovery runs the middleware's own :class:`~oauth_middleware.scopes.ScopePolicy`
over the app's routes, so what it finds is exactly what the middleware will
enforce: explicit and method-specific mapping entries, ``AUTO`` resolved through
the names of the enclosing ``Mount``s, ``@oauth_required`` endpoints (functions, or
the methods of an ``HTTPEndpoint``) and the scopes of FastAPI's
:class:`~oauth_middleware.dependencies.RequireScopes` dependencies (with those a
``Security(..., scopes=[...])`` adds).

Every ``OAuthMiddleware`` is found wherever it sits: in a Starlette (or FastAPI)
app's ``user_middleware``, as the app itself, or mounted below it — a
``Mount("/", protect_wsgi(flask_app, ...))`` or a Django ASGI application
wrapped in one. An ``OAuthMiddleware`` over an app without routes (WSGI, Django)
contributes its explicit mapping, reported under its mount path.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from oauth_middleware.dependencies import RequireScopes
from oauth_middleware.middleware import OAuthMiddleware
from oauth_middleware.scope_registry import ScopeSync, sync_scopes
from oauth_middleware.scopes import (
    REQUIRED_ATTR,
    RouteInfo,
    Rule,
    ScopePolicy,
    _Auto,
    descend,
    listed,
    walk_routes,
)
from oauth_middleware.store import Progress, TokenStore

#: How many wrappers (``.app`` of ``.app`` ...) are looked through; an app that wraps
#: itself must not loop forever.
_MAX_LAYERS = 32
#: The request handlers of a class endpoint, by Starlette's ``HTTPEndpoint`` naming.
_HANDLERS = ("get", "head", "post", "put", "patch", "delete", "options")


@dataclass(frozen=True, slots=True)
class ScopeNeed:
    """A scope some routes need, with those routes (``"POST /polls/{poll_id}/vote"``)."""

    identifier: str
    routes: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class _Guard:
    """An ``OAuthMiddleware`` found in the app: its policy, the routes below it (None for
    a WSGI or Django app) and the path it is mounted at."""

    prefix: str
    policy: ScopePolicy
    routes: list[Any] | None


@dataclass(slots=True)
class _Survey:
    guards: list[_Guard] = field(default_factory=list)
    #: Route lists :func:`walk_routes` cannot reach from the top (behind a middleware).
    roots: list[tuple[str, list[Any]]] = field(default_factory=list)


def _layers(app: Any) -> Iterator[Any]:
    """``app``, then what it wraps (``.app``), down to the first layer that has routes."""
    seen: set[int] = set()
    while app is not None and id(app) not in seen and len(seen) < _MAX_LAYERS:
        seen.add(id(app))
        yield app
        if getattr(app, "routes", None) is not None:
            return
        app = getattr(app, "app", None)


def _routes_below(app: Any) -> list[Any] | None:
    routes = None
    for layer in _layers(app):
        routes = getattr(layer, "routes", None)
    return None if routes is None else listed(routes, "/")


def _is_oauth_middleware(cls: Any) -> bool:
    return isinstance(cls, type) and issubclass(cls, OAuthMiddleware)


def _survey(app: Any, prefix: str, found: _Survey, *, reachable: bool,
            within: tuple[int, ...] = ()) -> None:
    """Record the guards of ``app`` (mounted at ``prefix``) and of everything mounted in it;
    ``within``: the route lists entered on the way (:func:`descend` refuses a cycle)."""
    routes = None
    for layer in _layers(app):
        if isinstance(layer, OAuthMiddleware):
            found.guards.append(_Guard(prefix, layer.policy, _routes_below(layer.app)))
        routes = getattr(layer, "routes", None)
        found.guards += [_Guard(prefix, ScopePolicy(entry.kwargs.get("scopes")),
                                listed(routes, prefix or "/"))
                         for entry in getattr(layer, "user_middleware", None) or []
                         if routes is not None and _is_oauth_middleware(getattr(entry, "cls", 0))]
    if routes is None:
        return
    within = descend(within, routes, prefix or "/")
    routes = listed(routes, prefix or "/")
    if not reachable:
        found.roots.append((prefix, routes))
    for route in routes:
        included = getattr(route, "original_router", None)  # FastAPI's include_router
        if included is not None and hasattr(included, "routes"):
            context = getattr(route, "include_context", None)
            _survey(included, prefix + getattr(context, "prefix", ""), found, reachable=True,
                    within=within)
        elif hasattr(route, "app") and not hasattr(route, "endpoint"):  # Mount, Host
            # walk_routes sees a mount's routes only when the mounted app itself has them.
            _survey(route.app, prefix + getattr(route, "path", ""), found,
                    reachable=bool(getattr(route, "routes", None)), within=within)


def _look(app: Any) -> _Survey:
    found = _Survey()
    _survey(app, "", found, reachable=False)
    if not found.guards and not found.roots:
        raise ValueError(f"{type(app).__name__} has no routes: pass the ASGI application "
                         "(Starlette, FastAPI, an OAuthMiddleware or protect_wsgi(...))")
    return found


def middleware_policies(app: Any) -> list[ScopePolicy]:
    """A policy for every ``OAuthMiddleware`` the app holds (an instance's own)."""
    return [guard.policy for guard in _look(app).guards]


def _guard_rules(guard: _Guard) -> list[Rule]:
    if guard.routes is not None:
        return guard.policy.bind(guard.routes)
    if guard.policy.needs_routes:
        raise ValueError(f"the OAuthMiddleware at {guard.prefix or '/'!r} has AUTO scopes but "
                         "wraps an app without routes (WSGI, Django): name each scope")
    return guard.policy.rules


def _where(method: str | None, template: str) -> str:
    return f"{method} {template}" if method else template


def _rule_uses(prefix: str, rules: Iterable[Rule]) -> Iterator[tuple[str, str]]:
    for rule in rules:
        if rule.method == "HEAD":
            continue  # the middleware matches HEAD as GET; the GET rule is reported
        for identifier in sorted(rule.scopes):
            yield identifier, _where(rule.method, prefix + rule.template)


def _dependency_scopes(dependant: Any) -> set[str]:
    """The scopes of every ``RequireScopes`` in a FastAPI dependency tree."""
    scopes: set[str] = set()
    stack = [dependant]
    while stack:
        node = stack.pop()
        call = getattr(node, "call", None)
        if isinstance(call, RequireScopes):
            scopes |= call.scopes
            scopes.update(getattr(node, "parent_oauth_scopes", None) or ())
            scopes.update(getattr(node, "own_oauth_scopes", None) or ())
        stack += getattr(node, "dependencies", None) or []
    return scopes


def _dependency_uses(prefix: str, info: RouteInfo) -> Iterator[tuple[str, str]]:
    scopes = _dependency_scopes(getattr(info.route, "dependant", None))
    methods = sorted(info.methods - {"HEAD"}) if info.methods else [None]
    for identifier in sorted(scopes):
        for method in methods:
            yield identifier, _where(method, prefix + info.template)


def _method_uses(prefix: str, info: RouteInfo) -> Iterator[tuple[str, str]]:
    """``@oauth_required`` on the methods of a class endpoint (Starlette's ``HTTPEndpoint``):
    the decorator enforces them itself, so their scopes must be registered too."""
    if not isinstance(info.endpoint, type):
        return
    for name in _HANDLERS:
        spec = getattr(getattr(info.endpoint, name, None), REQUIRED_ATTR, None)
        if isinstance(spec, _Auto):
            raise ValueError(f"@oauth_required(scope_auto=True) on {info.endpoint.__name__}."
                             f"{name}: AUTO derives scopes for function endpoints only; "
                             "name the scope")
        for identifier in sorted([spec] if isinstance(spec, str) else spec or ()):
            yield identifier, _where(name.upper(), prefix + info.template)


def required_scopes(app: Any) -> list[ScopeNeed]:
    """Every scope the app's routes need, sorted, with the routes that need each.

    Raises ``ValueError`` when an ``AUTO`` entry names no route of the app, or
    when the app has neither routes nor an ``OAuthMiddleware``.
    """
    found = _look(app)
    uses: list[tuple[str, str]] = []
    for guard in found.guards:
        uses += _rule_uses(guard.prefix, _guard_rules(guard))
    for prefix, routes in found.roots:
        uses += _rule_uses(prefix, ScopePolicy().bind(routes))  # @oauth_required endpoints
        for info in walk_routes(routes):
            uses += _dependency_uses(prefix, info)
            uses += _method_uses(prefix, info)
    routes_of: dict[str, dict[str, None]] = {}
    for identifier, where in uses:
        routes_of.setdefault(identifier, {})[where] = None
    return [ScopeNeed(identifier, tuple(where))
            for identifier, where in sorted(routes_of.items())]


async def sync_app(
    store: TokenStore, app: Any, *, dry_run: bool = False, progress: Progress | None = None
) -> ScopeSync:
    """Register every scope ``app`` needs that the store does not know yet."""
    return await sync_scopes(store, [need.identifier for need in required_scopes(app)],
                             dry_run=dry_run, progress=progress)
