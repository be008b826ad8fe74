"""The resource-server boundary: bearer tokens in, Starlette's auth contract out (RFC 6750).

``OAuthMiddleware`` is pure ASGI. For each HTTP or WebSocket request it finds
the scopes the route needs, extracts at most one bearer token, resolves it with
its verifier (a :class:`TokenStore`: one Redis round trip) and either hands the
request on with ``scope["user"]``, ``scope["auth"]`` and ``scope["oauth"]`` filled,
or answers the refusal itself (:mod:`.error_response`): the wrapped app is never
called on a 4xx or 5xx. CORS preflights pass without a token: they carry no
credentials; on a protected route only a CORS answer to one goes back (:mod:`.preflight`).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable, Mapping
from time import perf_counter
from typing import Any

from starlette.authentication import AuthCredentials, UnauthenticatedUser
from starlette.types import ASGIApp, Receive, Scope, Send

from oauth_middleware import extraction, redaction, resource_metadata, settings_checks, tracing
from oauth_middleware.body import ReplayedBody
from oauth_middleware.dpop.resource import ResourceProofs, base_url
from oauth_middleware.error_response import ErrorResponse, render
from oauth_middleware.errors import (
    DPoPInvalidToken,
    DPoPMissingToken,
    InsufficientScope,
    InvalidRequest,
    InvalidToken,
    MethodNotAllowed,
    MissingToken,
    OAuthError,
    RequestTooLarge,
    TemporarilyUnavailable,
)
from oauth_middleware.identity import ClientUser as ClientUser
from oauth_middleware.identity import TokenIdentity, token_identity
from oauth_middleware.identity import TokenUser as TokenUser
from oauth_middleware.metrics.sink import ANONYMOUS, NO_METRICS, OK, Metrics, outcome
from oauth_middleware.models import AccessToken
from oauth_middleware.preflight import cors_only, is_preflight
from oauth_middleware.resource_metadata import RESOURCE_METADATA_KEY, ProtectedResource
from oauth_middleware.scopes import ScopePolicy, ScopeSpec
from oauth_middleware.store import StoreUnavailable, TokenStore
from oauth_middleware.transport import Transport
from oauth_middleware.verdict import ACCEPTED, NO_TOKEN, VERDICT_KEY, Verdict
from oauth_middleware.verifier import TokenVerifier, token_source

logger = logging.getLogger("oauth_middleware.middleware")

#: Longest query string read for an ``access_token`` (bytes); ASGI servers pass any length.
MAX_QUERY_SIZE = 64 * 1024
_SLASHES = re.compile(r"/{2,}")


def route_path(scope: Scope) -> str:
    """The path Starlette's router matches: ``path`` without the ``root_path`` prefix."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    if root and path.startswith(root) and path[len(root):len(root) + 1] in ("", "/"):
        return path[len(root):] or "/"
    return path


class OAuthMiddleware:
    """Protect routes with bearer tokens; see docs/guides/configuration.md.

    ``verifier`` resolves tokens (:class:`TokenVerifier`); ``store=`` is the same for a
    :class:`TokenStore`. Pass one of them. With ``resource`` (its URL, or a
    :class:`ProtectedResource`) it serves the RFC 9728 metadata, points every challenge
    to it and refuses tokens meant for other resources (docs/guides/mcp.md). With
    ``public_url`` (or ``resource``) it accepts DPoP-bound tokens (docs/guides/dpop.md);
    ``dpop_nonce`` (seconds) makes proofs carry its nonce, ``require_dpop`` refuses tokens
    that are not DPoP-bound (RFC 9449 §9, RFC 9728 §2).
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        store: TokenStore | None = None,
        verifier: TokenVerifier | None = None,
        scopes: Mapping[str, ScopeSpec] | None = None,
        realm: str = "api",
        header: bool = True,
        form_body: bool = True,
        query: bool = True,
        debug: bool = False,
        max_body_size: int = 1 << 20,
        retry_after: int = 5,
        resource: str | ProtectedResource | None = None,
        require_audience: bool = False,
        public_url: str | None = None,
        dpop_nonce: int | None = None,
        require_dpop: bool = False,
        metrics: Metrics | None = None,
    ) -> None:
        settings_checks.check_options("OAuthMiddleware", settings_checks.MIDDLEWARE, locals())
        self.app = app
        self.verifier = token_source(store, verifier)
        self.policy = ScopePolicy(scopes)
        self.realm = realm
        self.sources = (header, form_body, query)
        self.transport = Transport(debug=debug, name="OAuthMiddleware")
        self.max_body_size = max_body_size
        self.retry_after = retry_after
        self.resource = resource_metadata.protected_resource(resource)
        self.require_audience = require_audience
        self._metadata_shadowed = False
        #: Where requests are counted (:mod:`oauth_middleware.metrics`); without metrics the
        #: token source is called directly, so the hot path reads no clock for them.
        self.metrics = metrics if metrics is not None else NO_METRICS
        self._untraced: Callable[[str], Awaitable[AccessToken | None]] = (
            self._timed_resolve if self.metrics.enabled else self.verifier.resolve)
        #: A span per resolution when OpenTelemetry is configured (:mod:`.tracing`).
        self._tracer: Any = tracing.tracer()
        self._resolve = self._untraced if self._tracer is None else self._traced_resolve
        #: DPoP-bound tokens (RFC 9449 §7); ``htu`` is checked against ``public_url``.
        self.dpop = _resource_proofs(store if store is not None else verifier, public_url,
                                     self.resource, dpop_nonce, require_dpop)
        if require_audience and self.resource is None:
            raise settings_checks.ConfigurationError(
                "OAuthMiddleware: require_audience=True needs resource='https://...': the "
                "audience is checked against the resource's identifier")

    @property
    def debug(self) -> bool:
        return self.transport.debug

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if not self.policy.bound and kind in ("http", "websocket", "lifespan"):
            try:
                self._bind(scope)
            except (ValueError, RuntimeError) as exc:  # a mapping the routes contradict
                if kind == "lifespan":
                    await settings_checks.fail_startup(receive, send, exc)
                raise
        if kind == "http":
            # Django and Werkzeug dispatch "post" as POST, and h11 passes it on as sent:
            # match the scope keys on the method as the app behind will read it.
            await self._guard(scope, receive, send, scope["method"].upper())
        elif kind == "websocket":
            await self._guard(scope, receive, send, "GET")
        else:
            await self.app(scope, receive, send)

    def _bind(self, scope: Scope) -> None:
        routes = getattr(scope.get("app"), "routes", None) or getattr(self.app, "routes", None)
        if routes is not None:
            if self.resource is not None:
                self._metadata_shadowed = resource_metadata.shadowed(self.resource, routes)
            if not scope.get("root_path"):
                settings_checks.check_scope_keys("OAuthMiddleware", self.policy, routes)
            elif (wrapped := settings_checks.wrapped_routes(self.app)) is not None:
                # mounted: the keys are relative to the app below us, not to scope["app"],
                # which may be the host app
                settings_checks.check_scope_keys("OAuthMiddleware", self.policy, wrapped)
            self.policy.bind(routes)
        elif self.policy.needs_routes:
            raise RuntimeError("AUTO scopes need the Starlette app's routes: add OAuthMiddleware "
                               "with app.add_middleware() or wrap a Starlette/Router instance")
        else:
            self.policy.bound = True

    async def _guard(self, scope: Scope, receive: Receive, send: Send, method: str) -> None:
        """One path for HTTP and WebSocket: judge the credentials, then refuse or hand on.

        On an unlisted route a refused token is dropped, not answered, and the reason
        kept in ``scope[VERDICT_KEY]`` for the layers below (:mod:`.verdict`).
        """
        raw_query = extraction.redact_query(scope)
        if self.resource is not None:
            if resource_metadata.serves(self.resource, scope) and not self._metadata_shadowed:
                await self._metadata(scope, send, self.resource)
                return
            scope[RESOURCE_METADATA_KEY] = self.resource.metadata_url
        required = self.policy.required(method, _merged(route_path(scope)))
        if method == "OPTIONS" and is_preflight(scope):
            scope[VERDICT_KEY] = NO_TOKEN
            if required is not None:
                send = cors_only(send, self._render(self._no_token()))
            await self._anonymous(scope, receive, send)
            return
        body = self._body(scope, receive, method) if scope["type"] == "http" else None
        if body is not None:
            receive = body
        try:
            credential, token = await self._judge(scope, body, raw_query, required)
        except OAuthError as exc:
            if required is not None or isinstance(exc, TemporarilyUnavailable):
                await self._refuse(scope, receive, send, exc)
                return
            scope[VERDICT_KEY] = Verdict(exc)
            self.metrics.request("middleware", ANONYMOUS)
            await self._anonymous(scope, receive, send)
            return
        if token is None:
            scope[VERDICT_KEY] = NO_TOKEN
            self.metrics.request("middleware", ANONYMOUS)
            await self._anonymous(scope, receive, send)
            return
        self._attach(scope, token, required)
        scope[VERDICT_KEY] = ACCEPTED
        self.metrics.request("middleware", OK)
        if credential is not None and credential.source == "query" and scope["type"] == "http":
            send = extraction.private_answers(send)
        await self.app(scope, receive, send)

    async def _judge(self, scope: Scope, body: ReplayedBody | None, raw_query: bytes,
                     required: frozenset[str] | None
                     ) -> tuple[extraction.Credential | None, AccessToken | None]:
        """The credential sent and its token's record, both None for an anonymous request
        on an unprotected route; the refusal raised otherwise. One coroutine from the
        transport check to the scopes: each await level is paid on every request."""
        if not self.transport.secure(scope):
            raise InvalidRequest("HTTPS is required." if scope["type"] == "http"
                                 else "TLS (wss) is required.")
        form = None if body is None else await self._form(body)
        credential = self._credential(scope, form, raw_query)
        if credential is None:
            if required is None:
                return None, None
            raise self._no_token()
        try:
            token = await self._resolve(credential.token)
        except StoreUnavailable:
            raise TemporarilyUnavailable(retry_after=self.retry_after) from None
        if token is None:  # the challenge names the scheme the client used (RFC 9449 §7.1)
            raise DPoPInvalidToken() if credential.dpop else InvalidToken()
        if token.jkt or credential.dpop or self.dpop.required:
            await self._bound(scope, credential, token)
        self._allowed(token, required)
        return credential, token

    def _body(self, scope: Scope, receive: Receive, method: str) -> ReplayedBody | None:
        """A replaying reader when the body may carry the token (RFC 6750 §2.2), else None.
        ``method`` is the request's, upper-cased once by ``__call__``."""
        if not self.sources[1] or method in ("GET", "HEAD"):
            return None
        return ReplayedBody(receive) if extraction.is_form(scope["headers"]) else None

    async def _form(self, body: ReplayedBody) -> str | None:
        """The ``access_token`` of a form body read ahead (None when it has none)."""
        data = await body.read(self.max_body_size)
        if data is None:
            raise RequestTooLarge()
        return extraction.from_urlencoded(data)

    def _credential(self, scope: Scope, form: str | None, raw_query: bytes
                    ) -> extraction.Credential | None:
        header, _, query = self.sources
        from_query = None
        if query and raw_query:
            if len(raw_query) > MAX_QUERY_SIZE:
                raise RequestTooLarge("The query string is too long.")
            from_query = extraction.from_urlencoded(raw_query)
        found = extraction.header_token(scope["headers"]) if header else None
        token, dpop = found or (None, False)
        return extraction.single(token, form, from_query, dpop=dpop)

    def _allowed(self, token: AccessToken, required: frozenset[str] | None) -> None:
        """A live token's audience (RFC 8707) and scopes, checked against this route."""
        if self.resource is not None:
            resource_metadata.check_audience(token, self.resource, self.require_audience)
        if required and not required <= token.scopes:
            raise InsufficientScope(sorted(required))

    def _no_token(self) -> MissingToken:
        """The refusal of a request without a token: where only DPoP-bound tokens are taken
        its challenge names the DPoP scheme, never Bearer (RFC 9449 §7.1)."""
        return DPoPMissingToken() if self.dpop.required else MissingToken()

    async def _traced_resolve(self, token: str) -> AccessToken | None:
        """The token source's answer in a span saying whether it found the token."""
        with self._tracer.start_as_current_span(f"{tracing.NAME}.resolve") as span:
            found = await self._untraced(token)
            span.set_attribute("oauth.token.found", found is not None)
            return found

    async def _timed_resolve(self, token: str) -> AccessToken | None:
        """The token source's answer, its wait observed (metrics on only)."""
        start = perf_counter()
        try:
            return await self.verifier.resolve(token)
        finally:
            self.metrics.resolve_time(perf_counter() - start)

    async def _bound(self, scope: Scope, credential: extraction.Credential,
                     token: AccessToken) -> None:
        """The DPoP checks of a bound token, or of one sent with the DPoP scheme."""
        try:
            await self.dpop.check(scope, credential, token)
        except StoreUnavailable:
            raise TemporarilyUnavailable(retry_after=self.retry_after) from None

    @staticmethod
    def _attach(scope: Scope, token: AccessToken, required: frozenset[str] | None) -> None:
        """The token always goes to ``scope["oauth"]``; ``scope["user"]`` becomes its
        identity unless the route is unlisted and a person is already signed in there
        (by the host's session): a token sent along never replaces who is logged in."""
        scope["oauth"] = token
        current = scope.get("user")
        signed_in = (current is not None and not isinstance(current, TokenIdentity)
                     and getattr(current, "is_authenticated", False))
        if required is None and signed_in:
            return
        scope["user"] = token_identity(token)
        scope["auth"] = AuthCredentials(sorted(token.scopes))

    async def _anonymous(self, scope: Scope, receive: Receive, send: Send) -> None:
        # A token an outer OAuthMiddleware (another store) accepted is not this one's:
        # below here only what this verifier accepted counts. A session user stays.
        scope.pop("oauth", None)
        if isinstance(scope.get("user"), TokenIdentity):
            scope["user"], scope["auth"] = UnauthenticatedUser(), AuthCredentials()
        scope.setdefault("user", UnauthenticatedUser())
        scope.setdefault("auth", AuthCredentials())
        await self.app(scope, receive, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send,
                      exc: OAuthError) -> None:
        # The app never reads a refused request's query: blank every OAuth secret in it,
        # not only access_token (one sent to the authorization server may carry a
        # client secret, and a 503 here answers before the server can blank it).
        redaction.redact_scope(scope)
        # %r: the server decoded the path, so a %0d%0a in it would start a forged log line.
        logger.info("refused %s %r: %s", scope.get("method", "WS"), scope["path"], exc.error)
        self.metrics.request("middleware", outcome(exc))
        if isinstance(exc, TemporarilyUnavailable):
            self.metrics.unavailable("middleware")
        if scope["type"] == "http":
            await self._render(exc).send(send, head=scope["method"] == "HEAD")
        else:
            await self._render(exc).send_websocket(scope, receive, send, exc.error)

    def _render(self, exc: OAuthError) -> ErrorResponse:
        url = None if self.resource is None else self.resource.metadata_url
        return render(exc, self.realm, url)

    async def _metadata(self, scope: Scope, send: Send, resource: ProtectedResource) -> None:
        """The resource's RFC 9728 document, reachable without a token (it is public)."""
        head = scope["method"] == "HEAD"
        if scope["method"] == "OPTIONS" and is_preflight(scope):
            await resource_metadata.send_preflight_answer(send)
        elif scope["method"] not in ("GET", "HEAD"):
            await render(MethodNotAllowed(allow="GET, HEAD"), None).send(send)
        elif not self.transport.secure(scope):
            await render(InvalidRequest("HTTPS is required."), None).send(send, head=head)
        else:
            doc = {**resource_metadata.document(resource, self.policy.rules, self.sources),
                   **self.dpop.metadata()}
            await resource_metadata.send_document(doc, send, head=head)


def _resource_proofs(source: object, public_url: str | None,
                     resource: ProtectedResource | None, nonce_period: int | None,
                     required: bool) -> ResourceProofs:
    """The middleware's DPoP checks: the replay cache and nonces in its store (a verifier
    that is no store keeps none, so DPoP is refused), ``htu`` from ``public_url`` or the
    resource."""
    url = base_url(public_url, None if resource is None else resource.identifier)
    if nonce_period is not None and not 10 <= nonce_period <= 86400:
        raise settings_checks.ConfigurationError(
            f"OAuthMiddleware: dpop_nonce={nonce_period!r} is wrong: seconds a nonce "
            "stays current, 10 to 86400 (e.g. 300), or None for no nonces")
    if (nonce_period is not None or required) and (url is None
                                                  or not isinstance(source, TokenStore)):
        raise settings_checks.ConfigurationError(
            "OAuthMiddleware: dpop_nonce= and require_dpop= need DPoP proofs checked: pass "
            "store= (not a verifier) and public_url= (or resource=)")
    try:
        return ResourceProofs(source if isinstance(source, TokenStore) else None, url,
                              nonce_period=nonce_period, required=required)
    except ValueError:
        raise settings_checks.ConfigurationError(
            f"OAuthMiddleware: public_url={public_url!r} is wrong: the origin clients reach "
            "this app at, e.g. 'https://api.example.com'") from None


def _merged(path: str) -> str:
    """``path`` with runs of ``/`` merged: Werkzeug (Flask) routes ``//items`` as ``/items``,
    so the key of ``/items`` must protect it; Starlette answers such paths 404 anyway."""
    return _SLASHES.sub("/", path) if "//" in path else path
