"""``@oauth_required``: oauthost's per-view declaration, for Starlette endpoints (RFC 6750 §3).

The decorator marks the endpoint so :class:`OAuthMiddleware` enforces it with
the same check as a mapping entry, and it always enforces its own requirement
again itself, on top of whatever a mapping entry for the same route asked: an
endpoint the middleware could not see (or a forgotten middleware) still refuses
anonymous requests, and a looser mapping entry never waives the decorator's scope.

``scope_auto=True`` derives the scope from the app's own routes (Starlette leaves
the outermost router in ``scope["router"]``), through the same rules the
middleware binds, so an endpoint needs the same scope with or without the
middleware. An endpoint not found there (called by another endpoint, say) is
refused with 403: its scope is not guessed.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from starlette.requests import HTTPConnection
from starlette.responses import Response
from starlette.websockets import WebSocket

from oauth_middleware.error_response import WS_POLICY_VIOLATION, render
from oauth_middleware.errors import OAuthError
from oauth_middleware.middleware import route_path
from oauth_middleware.resource_metadata import RESOURCE_METADATA_KEY
from oauth_middleware.scopes import (
    AUTO,
    REQUIRED_ATTR,
    Rule,
    ScopeSpec,
    _Auto,
    endpoint_rules,
    first_match,
    validate_scope,
)
from oauth_middleware.verdict import refusal

F = TypeVar("F", bound=Callable[..., Any])


def _connection(args: tuple[Any, ...], kwargs: dict[str, Any]) -> HTTPConnection:
    for value in (*args, *kwargs.values()):
        if isinstance(value, HTTPConnection):
            return value
    raise TypeError("@oauth_required endpoints must take the request (or websocket) argument")


class _Requirement:
    """What one decorated endpoint needs; for AUTO, derived once per app from its routes."""

    __slots__ = ("endpoint", "rules", "source", "spec")

    #: Derived from :attr:`source`'s routes on the first request (no router is None).
    rules: list[Rule]

    def __init__(self, spec: ScopeSpec) -> None:
        self.spec = spec
        #: The decorated endpoint as routes hold it (set once the wrapper exists).
        self.endpoint: Any = None
        #: The router whose routes :attr:`rules` were derived from.
        self.source: Any = None

    def scopes(self, conn: HTTPConnection) -> frozenset[str] | None:
        """The scopes this request needs; None when AUTO cannot be derived for it."""
        spec = self.spec
        if not isinstance(spec, _Auto):
            return frozenset([spec] if isinstance(spec, str) else spec)
        scope = conn.scope
        router = scope.get("router")  # set by the Router every Starlette app routes with
        routes = getattr(router, "routes", None)
        if routes is None:
            return None
        if router is not self.source:
            self.rules, self.source = endpoint_rules(routes, self.endpoint), router
        # Mounts moved root_path on the way here; the top router matched below the original.
        top = {"path": scope["path"],
               "root_path": scope.get("app_root_path", scope.get("root_path"))}
        return first_match(self.rules, scope.get("method", "GET"), route_path(top))

    def check(self, conn: HTTPConnection) -> OAuthError | None:
        """The refusal for this request (the middleware's reason when it dropped a token)."""
        return refusal(conn.scope, self.scopes(conn))


async def _refuse(conn: HTTPConnection, exc: OAuthError, realm: str) -> Response | None:
    if isinstance(conn, WebSocket):
        await conn.close(code=WS_POLICY_VIOLATION, reason=exc.error)
        return None
    return render(exc, realm, conn.scope.get(RESOURCE_METADATA_KEY)).response()


def oauth_required(
    scope: str | Sequence[str] | None = None, *, scope_auto: bool = False, realm: str = "api"
) -> Callable[[F], F]:
    """Require a valid token; with ``scope`` those scopes, with ``scope_auto`` the derived one.

    ``@oauth_required()`` accepts any valid token, ``@oauth_required("my_polls:my_stats")``
    needs that scope, ``@oauth_required(scope_auto=True)`` needs e.g. ``polls:results``.
    """
    if scope is not None and scope_auto:
        raise ValueError("pass either scope=... or scope_auto=True, not both")
    spec: ScopeSpec = AUTO if scope_auto else ([] if scope is None else scope)
    if not isinstance(spec, _Auto):
        for item in [spec] if isinstance(spec, str) else spec:
            validate_scope(item)

    def decorator(func: F) -> F:
        requirement = _Requirement(spec)
        if inspect.iscoroutinefunction(func):
            @functools.wraps(func)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                conn = _connection(args, kwargs)
                error = requirement.check(conn)
                if error is not None:
                    return await _refuse(conn, error, realm)
                return await func(*args, **kwargs)

            wrapper: Callable[..., Any] = async_wrapper
        else:
            @functools.wraps(func)
            def sync_wrapper(*args: Any, **kwargs: Any) -> Any:
                conn = _connection(args, kwargs)
                error = requirement.check(conn)
                if error is not None:
                    return render(error, realm,
                                  conn.scope.get(RESOURCE_METADATA_KEY)).response()
                return func(*args, **kwargs)

            wrapper = sync_wrapper
        requirement.endpoint = wrapper
        setattr(wrapper, REQUIRED_ATTR, spec)
        return wrapper  # type: ignore[return-value]

    return decorator
