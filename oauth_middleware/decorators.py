"""``@oauth_required``: oauthost's per-view declaration, for Starlette endpoints (RFC 6750 §3).

The decorator marks the endpoint so :class:`OAuthMiddleware` enforces it with
the same check as a mapping entry, and it enforces the check again itself, so
an endpoint the middleware could not see (or a forgotten middleware) still
refuses anonymous requests instead of serving them.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from starlette.requests import HTTPConnection
from starlette.responses import Response
from starlette.websockets import WebSocket

from oauth_middleware.errors import InsufficientScope, MissingToken, OAuthError, bearer_refusal
from oauth_middleware.middleware import WS_POLICY_VIOLATION
from oauth_middleware.models import AccessToken
from oauth_middleware.scopes import AUTO, REQUIRED_ATTR, ScopeSpec, _Auto, validate_scope

F = TypeVar("F", bound=Callable[..., Any])


def _connection(args: tuple[Any, ...], kwargs: dict[str, Any]) -> HTTPConnection:
    for value in (*args, *kwargs.values()):
        if isinstance(value, HTTPConnection):
            return value
    raise TypeError("@oauth_required endpoints must take the request (or websocket) argument")


def _check(conn: HTTPConnection, spec: ScopeSpec, func: Callable[..., Any]) -> OAuthError | None:
    token: AccessToken | None = conn.scope.get("oauth")
    if token is None:
        return MissingToken()
    if isinstance(spec, _Auto):
        enforced = conn.scope.get("oauth_required")
        if enforced is not None:
            return None  # the middleware resolved and checked the route's AUTO scope
        required = frozenset({f"{func.__module__.split('.')[0]}:{func.__name__}"})
    else:
        required = frozenset([spec] if isinstance(spec, str) else spec)
    if not required <= token.scopes:
        return InsufficientScope(sorted(required))
    return None


def _response(exc: OAuthError, realm: str) -> Response:
    status, headers, body = bearer_refusal(exc, realm)
    response = Response(body, status_code=status)
    response.raw_headers = headers
    return response


async def _refuse(conn: HTTPConnection, exc: OAuthError, realm: str) -> Response | None:
    if isinstance(conn, WebSocket):
        await conn.close(code=WS_POLICY_VIOLATION, reason=exc.error)
        return None
    return _response(exc, realm)


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
        if inspect.iscoroutinefunction(func):
            @functools.wraps(func)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                conn = _connection(args, kwargs)
                error = _check(conn, spec, func)
                if error is not None:
                    return await _refuse(conn, error, realm)
                return await func(*args, **kwargs)

            wrapper: Callable[..., Any] = async_wrapper
        else:
            @functools.wraps(func)
            def sync_wrapper(*args: Any, **kwargs: Any) -> Any:
                conn = _connection(args, kwargs)
                error = _check(conn, spec, func)
                if error is not None:
                    return _response(error, realm)
                return func(*args, **kwargs)

            wrapper = sync_wrapper
        setattr(wrapper, REQUIRED_ATTR, spec)
        return wrapper  # type: ignore[return-value]

    return decorator
