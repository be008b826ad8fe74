"""Request ids: one per request, from ``X-Request-ID`` or made here, in every log line of it.

:class:`RequestIdMiddleware` (outermost, so every layer below sees the id) takes
the incoming ``X-Request-ID`` when it is a safe value, else makes one, keeps it in
:data:`REQUEST_ID` (a context variable, so concurrent requests never see each
other's) and sends it back in the response's ``X-Request-ID``. :class:`RequestIdFilter`
stamps each log record with it (``record.request_id``, ``"-"`` outside a request);
:func:`oauth_middleware.logs.configure_logging` installs that filter. Audit events
read :func:`current`.

A safe id is 1 to :data:`MAX_LENGTH` characters of ``A-Z a-z 0-9 . _ : -``: it is
written into log lines and a response header, so no control character, space or quote
can forge a line or a header. An id equal to the request's credentials (its
``Authorization``, ``DPoP`` or ``Cookie`` header value, or part of one) is replaced:
a client that sends its token there must not see it in the logs.
"""

from __future__ import annotations

import logging
import re
import secrets
from contextvars import ContextVar

from starlette.types import ASGIApp, Message, Receive, Scope, Send

#: The header read and written.
HEADER = b"x-request-id"
_HEADER_LENGTH = len(HEADER)
#: Longest id accepted from a client; longer ones are replaced.
MAX_LENGTH = 64
_SAFE = re.compile(rf"[A-Za-z0-9._:-]{{1,{MAX_LENGTH}}}")
_CREDENTIALS = (b"authorization", b"dpop", b"cookie")

#: Where :class:`RequestIdMiddleware` also leaves the id: in the request's own scope.
SCOPE_KEY = "oauth_middleware.request_id"
#: The id of the request being served (None outside a request).
REQUEST_ID: ContextVar[str | None] = ContextVar("oauth_middleware_request_id", default=None)


def current() -> str | None:
    """The id of the request being served, None outside one."""
    return REQUEST_ID.get()


def new_id() -> str:
    """A fresh id: 128 random bits, hex (unique across workers without coordination)."""
    return secrets.token_hex(16)


def accepted(headers: list[tuple[bytes, bytes]]) -> str:
    """The request's own id when there is exactly one and it is safe, else a new one."""
    return sent(headers) or new_id()


def sent(headers: list[tuple[bytes, bytes]]) -> str | None:
    """The request's own ``X-Request-ID`` when there is exactly one and it is safe. Asked
    on every request of a server with an audit trail, most of which send none: a name of
    another length is passed over unlowered, in one loop (5,300 instructions a request of
    four headers as a comprehension that lowered each name, 3,400 so, by callgrind)."""
    found = None
    for name, value in headers:
        if len(name) == _HEADER_LENGTH and name.lower() == HEADER:
            if found is not None:
                return None  # two ids: neither is the request's
            found = value
    if found is None:
        return None
    try:
        text = found.decode("ascii")
    except UnicodeDecodeError:
        return None
    if _SAFE.fullmatch(text) is None:
        return None
    if any(found in v for n, v in headers if n.lower() in _CREDENTIALS):
        return None
    return text


def adopt(scope: Scope) -> None:
    """Set :data:`REQUEST_ID` for the request ``scope`` is (its audit events read it): the
    id :class:`RequestIdMiddleware` gave it, else the request's own safe one, else None.
    A boundary calls this as it starts serving; read from the scope, never from what an
    earlier request left in the context (an in-process caller runs them in one)."""
    REQUEST_ID.set(scope.get(SCOPE_KEY) or sent(scope.get("headers") or []))


class RequestIdMiddleware:
    """Give every HTTP and WebSocket request an id, kept in :data:`REQUEST_ID` and echoed."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        request_id = accepted(scope.get("headers") or [])
        scope[SCOPE_KEY] = request_id
        token = REQUEST_ID.set(request_id)
        echoed = request_id.encode("ascii")

        async def send_with_id(message: Message) -> None:
            if message["type"] in ("http.response.start", "websocket.http.response.start"):
                headers = [(k, v) for k, v in message.get("headers", [])
                           if k.lower() != HEADER]
                message = {**message, "headers": [*headers, (HEADER, echoed)]}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            REQUEST_ID.reset(token)


class RequestIdFilter(logging.Filter):
    """Stamp each record with ``request_id`` (``"-"`` outside a request); never drops one."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = REQUEST_ID.get() or "-"
        return True
