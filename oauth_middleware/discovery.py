"""The scopes an app's routes need (RFC 6749 §3.3): oauthost's ``syncscopes`` for ASGI apps.

Discovery runs the middleware's own :class:`~oauth_middleware.scopes.ScopePolicy`
over the app's routes, so what it finds is exactly what the middleware will
enforce: explicit and method-specific mapping entries, ``AUTO`` resolved through
the names of the enclosing ``Mount``s, and ``@oauth_required`` endpoints.

The mapping is read from the ``OAuthMiddleware`` entries of a Starlette (or
FastAPI) app's ``user_middleware``; an ``OAuthMiddleware`` instance that wraps
a router directly works too.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from oauth_middleware.middleware import OAuthMiddleware
from oauth_middleware.scope_registry import ScopeSync, sync_scopes
from oauth_middleware.scopes import Rule, ScopePolicy
from oauth_middleware.store import Progress, TokenStore


@dataclass(frozen=True, slots=True)
class ScopeNeed:
    """A scope some routes need, with those routes (``"POST /polls/{poll_id}/vote"``)."""

    identifier: str
    routes: tuple[str, ...]


def _is_oauth_middleware(cls: Any) -> bool:
    return isinstance(cls, type) and issubclass(cls, OAuthMiddleware)


def middleware_policies(app: Any) -> list[ScopePolicy]:
    """A fresh policy for every ``OAuthMiddleware`` the app is configured with."""
    if isinstance(app, OAuthMiddleware):
        return [app.policy]
    entries = getattr(app, "user_middleware", None) or []
    return [ScopePolicy(entry.kwargs.get("scopes")) for entry in entries
            if _is_oauth_middleware(getattr(entry, "cls", None))]


def _routes(app: Any) -> list[Any]:
    target = app.app if isinstance(app, OAuthMiddleware) else app
    routes = getattr(target, "routes", None)
    if routes is None:
        raise ValueError(f"{type(target).__name__} has no routes: pass the Starlette or "
                         "FastAPI application (or an OAuthMiddleware wrapping a Router)")
    return list(routes)


def _where(rule: Rule) -> str:
    return f"{rule.method} {rule.template}" if rule.method else rule.template


def required_scopes(app: Any) -> list[ScopeNeed]:
    """Every scope the app's routes need, sorted, with the routes that need each.

    Without any ``OAuthMiddleware`` only ``@oauth_required`` endpoints are found.
    Raises ``ValueError`` when an ``AUTO`` entry names no route of the app.
    """
    routes = _routes(app)
    policies = middleware_policies(app) or [ScopePolicy()]
    uses: dict[str, list[str]] = {}
    for policy in policies:
        for rule in policy.bind(routes):
            if rule.method == "HEAD":
                continue  # the middleware matches HEAD as GET; the GET rule is reported
            for identifier in rule.scopes:
                uses.setdefault(identifier, []).append(_where(rule))
    return [ScopeNeed(identifier, tuple(dict.fromkeys(where)))
            for identifier, where in sorted(uses.items())]


async def sync_app(
    store: TokenStore, app: Any, *, dry_run: bool = False, progress: Progress | None = None
) -> ScopeSync:
    """Register every scope ``app`` needs that the store does not know yet."""
    return await sync_scopes(store, _identifiers(required_scopes(app)),
                             dry_run=dry_run, progress=progress)


def _identifiers(needs: Iterable[ScopeNeed]) -> list[str]:
    return [need.identifier for need in needs]
