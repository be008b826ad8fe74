"""The one refusal renderer: every JSON error we answer (RFC 6750 §3, RFC 6749 §5.2).

The middleware, ``@oauth_required``, the FastAPI dependency and the token family
(``token/``, ``revoke/``, ``introspect/``) all answer an :class:`OAuthError` through
:func:`render`, so one refusal looks the same wherever it is decided: the error's
status, a JSON body ``{"error", "error_description"}``, ``Cache-Control: no-store``
and ``Pragma: no-cache``, the error's own headers (``Retry-After``, ``Allow``, a
``Basic`` challenge), and for a protected resource the ``Bearer`` challenge.
Pages (``auth/``, the admin) stay HTML and take only the status from the error.
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from oauth_middleware.errors import OAuthError, TemporarilyUnavailable

#: WebSocket close codes (RFC 6455 §7.4.1): policy violation, try again later.
WS_POLICY_VIOLATION = 1008
WS_TRY_AGAIN_LATER = 1013


@dataclass(frozen=True, slots=True)
class ErrorResponse:
    """A rendered refusal: what goes on the wire, as ASGI wants it."""

    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes

    def response(self) -> Response:
        """The same refusal as a Starlette response (for endpoints and handlers)."""
        response = Response(self.body, status_code=self.status)
        response.raw_headers = list(self.headers)
        return response

    async def send(self, send: Send, *, head: bool = False) -> None:
        """Send it on an HTTP connection (a HEAD request gets the headers only)."""
        await send({"type": "http.response.start", "status": self.status,
                    "headers": self.headers})
        await send({"type": "http.response.body", "body": b"" if head else self.body})

    async def send_websocket(self, scope: Scope, receive: Receive, send: Send,
                             error: str) -> None:
        """Refuse a WebSocket handshake with this refusal where the server offers the ASGI
        ``websocket.http.response`` extension: status, challenge, ``Retry-After`` and body.

        Elsewhere a close before accepting would reach the client as a bare 403, so the
        socket is accepted and closed at once: 1008 (RFC 6455 §7.4.1 policy violation),
        1013 (try again later) when Redis is down, the error code as the reason.
        """
        if (await receive())["type"] != "websocket.connect":
            return  # the client went away first
        if "websocket.http.response" in (scope.get("extensions") or {}):
            await send({"type": "websocket.http.response.start", "status": self.status,
                        "headers": self.headers})
            await send({"type": "websocket.http.response.body", "body": self.body})
            return
        code = WS_TRY_AGAIN_LATER if self.status == 503 else WS_POLICY_VIOLATION
        await send({"type": "websocket.accept"})
        await send({"type": "websocket.close", "code": code, "reason": error})


def render(exc: OAuthError, realm: str | None,
           resource_metadata: str | None = None) -> ErrorResponse:
    """``exc`` as JSON; with a ``realm``, refusing a protected resource (RFC 6750 §3).

    The ``Bearer`` challenge goes on every refusal of a protected resource except
    ``temporarily_unavailable``: a token Redis could not look up was not judged.
    With a ``resource_metadata`` URL the challenge points to the resource's metadata
    (RFC 9728 §5.1), so a client that knows nothing but the URL can find its
    authorization server.
    """
    body = exc.body()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"cache-control", b"no-store"),
        (b"pragma", b"no-cache"),
    ]
    if realm is not None and not isinstance(exc, TemporarilyUnavailable):
        challenge = exc.www_authenticate(realm)
        if resource_metadata is not None:
            challenge += f', resource_metadata="{quoted(resource_metadata)}"'
        headers.append((b"www-authenticate", challenge.encode("ascii")))
    headers += [(k.lower().encode(), v.encode("ascii")) for k, v in exc.headers.items()]
    return ErrorResponse(exc.status_code, headers, body)


def quoted(value: str) -> str:
    """``value`` as the inside of an RFC 9110 §5.6.4 quoted-string: ``"`` and ``\\``
    escaped, control characters dropped. Configured URLs hold none of them (they are
    checked at construction); this keeps it so whatever a caller passes."""
    kept = "".join(c for c in value if " " <= c <= "~")
    return kept.replace("\\", "\\\\").replace('"', '\\"')
