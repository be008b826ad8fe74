"""CORS preflights to protected routes: a CORS answer or the refusal (Fetch §4.8, RFC 6750 §3).

A preflight carries no credentials, so the middleware lets it through for the CORS
layer below to answer. Anyone can send its two headers, though, and what sits
below is not always a CORS layer: a Django function view that never reads
``request.method``, or any route serving ``OPTIONS``, would answer it with the
protected resource. So on a protected route only a CORS answer goes back — one
carrying a header only preflight answers carry (``Access-Control-Allow-Methods``,
``-Headers`` or ``Max-Age``; a token's preflight, asking for ``Authorization`` and for a
DPoP-bound one ``DPoP``, needs ``-Headers``) —
stripped of its body, which browsers never read; anything else is replaced by the
refusal a request without a token gets.
"""

from __future__ import annotations

from starlette.types import Message, Scope, Send

from oauth_middleware.error_response import ErrorResponse

#: Response headers that only an answer to a preflight has (Fetch §3.2.3).
PREFLIGHT_ANSWER = frozenset({b"access-control-allow-methods", b"access-control-allow-headers",
                              b"access-control-max-age"})


def is_preflight(scope: Scope) -> bool:
    """A CORS preflight (Fetch §4.8): OPTIONS with ``Origin`` and ``Access-Control-Request-
    Method``. Browsers send it without credentials; one carrying an Authorization header is
    not a preflight and is judged like any request."""
    origin = method = False
    for name, _ in scope["headers"]:
        if name == b"authorization":
            return False
        origin = origin or name == b"origin"
        method = method or name == b"access-control-request-method"
    return origin and method


def cors_only(send: Send, refusal: ErrorResponse) -> Send:
    """``send`` letting through a CORS answer's status and headers only (no body), and
    sending ``refusal`` instead of any other answer."""
    forwarding = False

    async def wrapped(message: Message) -> None:
        nonlocal forwarding
        kind = message["type"]
        if kind == "http.response.start":
            headers = list(message.get("headers", ()))
            forwarding = any(name.lower() in PREFLIGHT_ANSWER for name, _ in headers)
            if not forwarding:
                await refusal.send(send)
                return
            headers = [(k, v) for k, v in headers if k.lower() != b"content-length"]
            await send({**message, "headers": [*headers, (b"content-length", b"0")]})
        elif not forwarding:
            return  # the refusal went instead
        elif kind == "http.response.trailers":
            await send(message)
        elif not message.get("more_body"):  # the last body message, or a pathsend
            await send({"type": "http.response.body", "body": b""})

    return wrapped
