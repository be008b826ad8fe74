"""The token-family boundary: requests checked, errors turned into JSON (RFC 6749 §3.2, §5.2).

``token/``, ``revoke/``, ``introspect/`` and the metadata document all enter
through :class:`JsonEndpoint`. It first blanks every value of the query string
in the scope, where servers read the URL they log (none of these endpoints reads
its URL, and a client that puts its secret there must not see it in uvicorn's
access log next to the refusal). Then it refuses plain HTTP outside debug mode
(but from this machine: :mod:`oauth_middleware.transport`), wrong methods, non-form
bodies, OAuth parameters in the query string, oversized or malformed input; and it
is the one place an :class:`OAuthError` raised anywhere below turns into a response
(through the one renderer, :mod:`oauth_middleware.error_response`). An unreachable store becomes 503
``temporarily_unavailable`` with ``Retry-After`` (never ``invalid_grant``, which
makes clients throw their refresh tokens away); anything unexpected becomes a
generic 500 whose log line names the exception type and place, never its
message (which might quote a secret).
"""

from __future__ import annotations

import logging
import re
import traceback
from time import perf_counter
from typing import ClassVar

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from oauth_middleware import redaction, request_id, tracing
from oauth_middleware.content_length import BodyGone, BodyTooLarge, read_bounded
from oauth_middleware.error_response import render
from oauth_middleware.errors import (
    InsufficientScope,
    InvalidRequest,
    InvalidToken,
    MethodNotAllowed,
    OAuthError,
    RequestTooLarge,
    ServerError,
    SlowDown,
    TemporarilyUnavailable,
)
from oauth_middleware.metrics.sink import OK, outcome
from oauth_middleware.server import form
from oauth_middleware.server.config import ServerConfig
from oauth_middleware.store import StoreUnavailable

logger = logging.getLogger("oauth_middleware.server")

#: Largest request body the token family reads (bytes); a token request is a few hundred.
MAX_BODY_SIZE = form.MAX_BYTES
_FORM_TYPE = "application/x-www-form-urlencoded"
#: Parameters that must never travel in a URL (RFC 6749 §3.2, §2.3.1; RFC 7009; RFC 7662).
OAUTH_PARAMS = frozenset({
    "grant_type", "code", "redirect_uri", "client_id", "client_secret", "refresh_token",
    "scope", "code_verifier", "username", "password", "token", "token_type_hint",
    "access_token", "assertion", "device_code",
})


def _where(exc: BaseException) -> str:
    """``file:line in function`` of the innermost frame: enough to find a bug, no data."""
    frames = traceback.extract_tb(exc.__traceback__)
    if not frames:
        return "?"
    last = frames[-1]
    return f"{last.filename}:{last.lineno} in {last.name}"


class JsonEndpoint:
    """An endpoint answering JSON only; subclasses implement :meth:`respond`."""

    methods: ClassVar[frozenset[str]] = frozenset({"POST"})
    #: The ``endpoint`` label of its metrics: the class name, snake case, without "Endpoint".
    endpoint: ClassVar[str] = "json"

    def __init_subclass__(cls) -> None:
        super().__init_subclass__()
        if "endpoint" not in cls.__dict__:
            name = cls.__name__.strip("_").removesuffix("Endpoint")
            cls.endpoint = re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()

    def __init__(self, config: ServerConfig) -> None:
        self.config = config
        self.store = config.store

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Mounted as a plain ASGI app, so every method reaches :meth:`handle` (Starlette
        would answer a bare 405 page for methods a function endpoint does not list)."""
        if self.config.audit is not None:
            request_id.adopt(scope)
        response = await self.handle(Request(scope, receive))
        await response(scope, receive, send)

    async def handle(self, request: Request) -> Response:
        """:meth:`_measured`, in a span when OpenTelemetry is configured (:mod:`.tracing`)."""
        tracer = self.config.tracer
        if tracer is None:
            return await self._measured(request)
        with tracer.start_as_current_span(f"{tracing.NAME}.{self.endpoint}") as span:
            response = await self._measured(request)
            span.set_attribute("http.response.status_code", response.status_code)
            return response

    async def _measured(self, request: Request) -> Response:
        metrics = self.config.metrics
        if not metrics.enabled:
            return await self._handle(request)
        start = perf_counter()
        response = await self._handle(request)
        metrics.duration(self.endpoint, perf_counter() - start)
        if response.status_code < 400:
            metrics.request(self.endpoint, OK)
        return response

    async def _handle(self, request: Request) -> Response:
        query = redaction.redact_scope(request.scope, names=None)  # before any refusal
        try:
            if not self.config.transport.secure(request.scope):
                raise InvalidRequest("HTTPS is required.")
            if request.method not in self.methods:
                raise MethodNotAllowed(allow=", ".join(sorted(self.methods)))
            return await self.respond(request, query)
        except OAuthError as exc:
            return self._refused(exc)
        except StoreUnavailable:
            return self._refused(TemporarilyUnavailable(retry_after=self.config.retry_after))
        except Exception as exc:
            logger.error("%s on %s %s failed: %s at %s", type(self).__name__, request.method,
                         request.scope["path"], type(exc).__name__, _where(exc))
            return self._refused(ServerError())

    def _refused(self, exc: OAuthError) -> Response:
        """:meth:`render`, counted by error code (a 429 and a 503 in their own series too)."""
        metrics = self.config.metrics
        metrics.request(self.endpoint, outcome(exc))
        if isinstance(exc, SlowDown):
            metrics.throttled(self.endpoint)
        elif isinstance(exc, TemporarilyUnavailable):
            metrics.unavailable(self.endpoint)
        return self.render(exc)

    def render(self, exc: OAuthError) -> Response:
        """The one renderer; a ``Bearer`` challenge only where a bearer token was judged
        (introspect/'s caller token), ``Basic`` for ``invalid_client`` from the error."""
        bearer = isinstance(exc, InvalidToken | InsufficientScope)
        return render(exc, self.config.realm if bearer else None).response()

    async def respond(self, request: Request, query: bytes) -> Response:
        """The answer; ``query`` is the query string as sent (the scope's is redacted)."""
        raise NotImplementedError


class FormEndpoint(JsonEndpoint):
    """A POST endpoint whose parameters arrive form-encoded in the body, and only there."""

    async def respond(self, request: Request, query: bytes) -> Response:
        return await self.answer(request, await read_params(request, query))

    async def answer(self, request: Request, params: form.Params) -> Response:
        raise NotImplementedError


async def read_params(request: Request, raw_query: bytes) -> dict[str, str]:
    """The body's parameters, after every check RFC 6749 §3.2 and SECURITY.md ask for.

    A client that puts its secret, code or password in the URL (``raw_query``, as
    sent) is refused; :meth:`JsonEndpoint.handle` has already blanked it in the scope.
    """
    query = form.parse(raw_query)
    if OAUTH_PARAMS & query.keys():
        raise InvalidRequest("OAuth parameters must be sent in the request body, not the URL.")
    media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media_type != _FORM_TYPE:
        raise InvalidRequest("The body must be application/x-www-form-urlencoded.")
    return form.parse(await read_body(request))


async def read_body(request: Request, limit: int = MAX_BODY_SIZE) -> bytes:
    """The request's body, at most ``limit`` bytes; each way it can fail as its OAuth error."""
    try:
        return await read_bounded(request, limit)
    except ValueError:
        raise InvalidRequest("The Content-Length header is malformed.") from None
    except BodyTooLarge:
        raise RequestTooLarge() from None
    except BodyGone:
        raise InvalidRequest("The client went away before the body was read.") from None
