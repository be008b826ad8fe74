"""The authorization endpoint ``auth/`` (RFC 6749 §3.1, §4.1.1-4.1.2, §4.2.1-4.2.2, §10.12).

One of the three error boundaries. ``GET`` validates the request — client and
redirect URI first, then the user's login, then everything else — stores it as
a pending transaction bound to the user and shows the consent page. ``HEAD``
answers as ``GET`` would but stores nothing: link prefetchers must not fill
Redis with pending requests. ``POST`` carries the user's decision, guarded by
the CSRF token and the cross-site checks of :mod:`.consent`, and answers with a
303 to the client. Any other method gets the 405 error page with ``Allow``.
A request carrying a bearer token (header, query, or the consent form's body)
is a 400 page before anything is read or stored: only the host's login says
who the user is (:func:`refuse_bearer`).
The endpoint is a plain ASGI app so that every method reaches it, never the
router's bare-text 405. Errors are raised deep and turned into a response
here, once:

=========================  =======================================================
raised                     answer
=========================  =======================================================
``ErrorRedirect``          303 to the client's redirect URI with ``error`` + ``state``
``OAuthError``             HTML error page (400/403/413), no ``Location``
``StoreUnavailable``       503 page + ``Retry-After``, never a redirect
anything else              generic 500 page, the traceback only in the server log
=========================  =======================================================
"""

from __future__ import annotations

import logging
import traceback
from time import perf_counter
from urllib.parse import quote, urlencode

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from oauth_middleware import request_id
from oauth_middleware.audit import note
from oauth_middleware.errors import (
    AccessDenied,
    ConsentRequired,
    InvalidRequest,
    MethodNotAllowed,
    OAuthError,
    TemporarilyUnavailable,
)
from oauth_middleware.identity import ACCESS_TOKEN_PARAM, carries_bearer
from oauth_middleware.metrics.sink import OK, outcome
from oauth_middleware.models import Client, PendingAuthorization
from oauth_middleware.policy import grantable_scopes
from oauth_middleware.redirects import add_params
from oauth_middleware.server import authorization_request as areq
from oauth_middleware.server import consent, par, pushed_login, remembered
from oauth_middleware.server.client_documents import DocumentClients
from oauth_middleware.server.config import ServerConfig
from oauth_middleware.server.grants import AuthorizationGrant, Grants
from oauth_middleware.server.oidc.interaction import needs_login
from oauth_middleware.server.oidc.request import OpenIDRequest
from oauth_middleware.server.pages import Pages
from oauth_middleware.server.pushed_login import LoginMarks
from oauth_middleware.server.registration import note_use
from oauth_middleware.server.responses import redirect
from oauth_middleware.server.signed_in import signed_in_user
from oauth_middleware.server.throttle import Throttle, caller_address
from oauth_middleware.server.urlencoded import Params, parse
from oauth_middleware.store import ClientRemoved, StoreUnavailable
from oauth_middleware.web import Authenticate, Authentication

logger = logging.getLogger("oauth_middleware.server.authorize")
#: The ``endpoint`` label of auth/'s metrics.
METRICS_NAME = "authorization"


def refuse_bearer(request: Request, form: Params | None = None) -> None:
    """400 for a request carrying a bearer token (RFC 6750 §2), before anything is stored.

    Only the host's login says who the resource owner is (RFC 6749 §3.1, RFC 9700
    §4.14); a token of the user, leaked or held by any client, must never pass for it.
    """
    in_form = form is not None and any(name == ACCESS_TOKEN_PARAM for name, _ in form.items)
    if in_form or carries_bearer(request):
        raise InvalidRequest("An access token cannot sign anyone in: sign in to this site "
                             "instead, without an access token.")


async def signed_decision(request: Request, origin: str, authenticate: Authenticate,
                          csrf: consent.CsrfTokens) -> tuple[str, consent.Decision]:
    """Who decided and what, from a consent-style form POST: only from our own page
    (cross-site refused), never with a bearer token, by the host's signed-in user, the
    CSRF token bound to that user (RFC 6749 §10.12)."""
    consent.refuse_cross_site(request, origin)
    form = await consent.read_form(request)
    refuse_bearer(request, form)
    signed_in = await signed_in_user(authenticate, request)
    if signed_in is None:
        raise AccessDenied("You are not signed in.")
    return signed_in.user_id, consent.read_decision(form, signed_in.user_id, csrf)


class AuthorizationEndpoint:
    """``auth/``: GET asks the user, POST records the answer."""

    def __init__(self, config: ServerConfig, grants: Grants | None = None, *,
                 documents: DocumentClients | None = None) -> None:
        self.config = config
        self.documents = documents
        self.pages = Pages(config.templates)
        self.csrf = consent.CsrfTokens(
            config.secret_key, max_age=config.consent_lifetime, clock=config.store.clock
        )
        self.login_marks = LoginMarks(config.secret_key, max_age=config.consent_lifetime,
                                      clock=config.store.clock)
        self.origin = consent.origin_of(config.issuer)
        self.grants = grants if grants is not None else Grants(
            config, Throttle(config.store, config.throttle, config.audit))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.config.audit is not None:
            request_id.adopt(scope)
        response = await self.handle(Request(scope, receive))
        await response(scope, receive, send)

    async def handle(self, request: Request) -> Response:
        metrics, start = self.config.metrics, perf_counter()
        try:
            response = await self.answer(request)
        except Exception as exc:  # also a broken user template rendering an error page
            logger.error("authorization endpoint failed with %s\n%s", type(exc).__name__,
                         "".join(traceback.format_tb(exc.__traceback__)))
            metrics.request(METRICS_NAME, "server_error")
            return self.pages.server_error()
        metrics.duration(METRICS_NAME, perf_counter() - start)
        return response

    async def answer(self, request: Request) -> Response:
        """The request's answer, with every expected error turned into a redirect or a page;
        counted by the error raised, ``ok`` for any other answer (the login redirect, the
        consent page, the redirect back to the client)."""
        metrics = self.config.metrics
        try:
            response = await self.dispatch(request)
        except areq.ErrorRedirect as exc:
            metrics.request(METRICS_NAME, outcome(exc.error))
            return redirect(exc.url())
        except OAuthError as exc:
            metrics.request(METRICS_NAME, outcome(exc))
            return self.pages.error(exc)
        except StoreUnavailable:
            metrics.request(METRICS_NAME, TemporarilyUnavailable.error)
            metrics.unavailable(METRICS_NAME)
            return self.pages.unavailable(self.config.retry_after)
        metrics.request(METRICS_NAME, OK)
        return response

    async def dispatch(self, request: Request) -> Response:
        # Never request.url: it decodes the query and fails on non-UTF-8 bytes.
        if not self.config.transport.secure(request.scope):
            raise InvalidRequest("HTTPS is required: this page is not served over plain HTTP.")
        refuse_bearer(request)
        if request.method == "POST":
            return await self.decide(request)
        if request.method in ("GET", "HEAD"):
            return await self.ask(request)
        raise MethodNotAllowed(allow="GET, HEAD, POST")

    async def ask(self, request: Request) -> Response:
        """GET: validate, remember the request server-side, show the consent page.

        An OpenID Provider validates before it looks at the login: ``prompt=none`` must
        answer the client with an error, never show a login page (Core 1.0 §3.1.2.6)."""
        params = sent = parse(request.scope["query_string"], max_bytes=areq.MAX_QUERY_BYTES,
                              max_fields=areq.MAX_FIELDS)
        pushed = await par.resolve(  # a HEAD stores nothing: it extends nothing either
            self.config.store, params,
            keep_for=self.config.consent_lifetime if request.method == "GET" else 0)
        if pushed is not None:  # RFC 9126 §4: the pushed parameters stand for the query
            params = pushed.params
        client, target = await areq.identify(self.config.store, params, self.grants,
                                             documents=self.documents,
                                             caller=caller_address(request.scope))
        if pushed is not None:
            pushed.check_client(client)
        user = await signed_in_user(self.config.authenticate, request)
        if user is None and self.config.openid is None:
            return redirect(self.login_url(request))
        auth_request = await areq.validate(self.config, self.grants, client, target, params,
                                           pushed=pushed.sha if pushed is not None else None)
        store = self.config.store
        if self.config.openid is not None:
            openid = auth_request.openid
            if pushed is not None:  # a login asked for already and given since
                openid = pushed_login.satisfied(
                    openid, user, self.login_marks.asked_at(sent, pushed.sha))
            try:
                relogin = await needs_login(self.config, client, openid, user, store.clock())
            except OAuthError as exc:
                raise areq.ErrorRedirect(exc, target) from None
            if relogin or user is None:
                return redirect(self.login_url(request, params, openid, pushed))
            if auth_request.openid.silent:
                return await self.silently(request, auth_request, user)
        if user is None:  # unreachable: sent to the login page above (typing)
            return redirect(self.login_url(request))
        if request.method == "GET" and not remembered.asks_consent(params):
            answer = await self.answer_remembered(user, auth_request)
            if answer is not None:
                return answer
        transaction = csrf_token = ""
        if request.method == "GET":
            pending = auth_request.pending(user, store.clock())
            transaction = await store.consent.put_pending(
                pending, lifetime=self.config.consent_lifetime,
                cap=self.config.max_pending_consents)
            csrf_token = self.csrf.issue(user.user_id, transaction)
        known = await store.get_scopes(auth_request.scopes)
        return self.pages.consent(
            client=client, scopes=[known[s] for s in auth_request.scopes if s in known],
            user=user.user_id, redirect_uri=target.uri, action=request.scope["path"],
            transaction=transaction, csrf_token=csrf_token,
            resources=sorted(auth_request.audience), remember=self.config.remember_consent,
            ui_locales=auth_request.openid.ui_locales,
        )

    async def answer_remembered(
        self, user: Authentication, auth_request: areq.AuthorizationRequest
    ) -> Response | None:
        """The answer without the consent page when the user approved every scope asked
        for before, for the same resources (:mod:`.remembered`); None: ask. The request
        passed every check the page's decision would repeat (client, redirect URI,
        response type, scopes)."""
        client = auth_request.client
        if not await remembered.covers(self.config, user.user_id, auth_request):
            return None
        pending = auth_request.pending(user, self.config.store.clock())
        await self.take_pushed(pending)
        try:
            _, grant = areq.check_response_type(self.config, self.grants, client,
                                                pending.response_type)
            params = await grant.authorization_response(client, pending,
                                                        frozenset(auth_request.scopes))
        except ClientRemoved:  # removed since it was read: nothing was issued
            raise InvalidRequest("The client is no longer registered.") from None
        except OAuthError as exc:
            raise areq.ErrorRedirect(exc, auth_request.target) from None
        await note_use(self.config, client)
        return redirect(auth_request.target.url(params))

    async def silently(self, request: Request, auth_request: areq.AuthorizationRequest,
                       user: Authentication) -> Response:
        """``prompt=none`` (Core 1.0 §3.1.2.6): answer from remembered consent, or
        ``consent_required``; a HEAD answers nothing (it must issue nothing)."""
        if request.method != "GET":
            raise InvalidRequest("prompt=none is answered to GET requests only.")
        answer = await self.answer_remembered(user, auth_request)
        if answer is None:
            raise areq.ErrorRedirect(ConsentRequired(), auth_request.target)
        return answer

    def login_url(self, request: Request, params: Params | None = None,
                  openid: OpenIDRequest | None = None,
                  pushed: par.Resolved | None = None) -> str:
        """``login_url?next=<this path and query>``; the login page sends the user back.

        For an OpenID request the host is also told ``prompt=login`` when it must ask the
        user again whatever its session says, and the ``login_hint`` and ``ui_locales``
        sent. ``prompt=login`` itself is taken out of ``next``: once the user signed in
        again, coming back must not send them to the login page once more. A pushed
        request comes back as it was sent, with a signed mark instead (:mod:`.pushed_login`)."""
        query = request.scope["query_string"].decode("ascii")
        extra: dict[str, str] = {}
        if openid is not None and params is not None:
            if openid.forces_login and pushed is not None:
                mark = self.login_marks.mark(pushed.sha, self.config.store.clock())
                sent = parse(request.scope["query_string"], max_bytes=areq.MAX_QUERY_BYTES,
                             max_fields=areq.MAX_FIELDS)
                query = urlencode(pushed_login.next_query(sent, mark), quote_via=quote)
            elif openid.forces_login:
                query = urlencode([(k, v) for k, v in params.items if k != "prompt"],
                                  quote_via=quote)
            extra = {"prompt": "login"} if openid.forces_login or openid.max_age is not None \
                or openid.id_token_hint is not None else {}
            if openid.login_hint is not None:
                extra["login_hint"] = openid.login_hint
            if openid.ui_locales:
                extra["ui_locales"] = " ".join(openid.ui_locales)
        path = request.scope["path"]
        here = f"{path}?{query}" if query else path
        return add_params(self.config.login_url, {"next": here, **extra})

    async def decide(self, request: Request) -> Response:
        """POST: the user's decision, accepted once, only from our own consent form."""
        user, decision = await signed_decision(request, self.origin, self.config.authenticate,
                                               self.csrf)
        pending = await self.config.store.consent.take_pending(decision.transaction, user=user)
        if pending is None or pending.user != user:
            raise AccessDenied("This authorization request has expired or was already answered.")
        client = await self.config.store.get_client(pending.client_id)
        if client is None or client.generation != pending.client_generation:
            raise InvalidRequest("The client is no longer registered.")
        await self.take_pushed(pending)
        target = areq.RedirectTarget.of(pending, self.grants)
        grant, scopes = await self.approved_scopes(client, pending, decision, target)
        try:
            params = await grant.authorization_response(client, pending, scopes)
        except ClientRemoved:  # removed since it was read: nothing was issued
            raise InvalidRequest("The client is no longer registered.") from None
        except OAuthError as exc:  # the grant refused what was approved: the client is told
            raise areq.ErrorRedirect(exc, target) from None
        await note_use(self.config, client)
        return redirect(target.url(params))

    async def take_pushed(self, pending: PendingAuthorization) -> None:
        """A pushed request is answered once (RFC 9126 §4): taken atomically before its
        answer is built, so of concurrent answers (reloaded pages, remembered consent) only
        one goes on; the others see an error page, and no code is issued for them."""
        if pending.pushed is None:
            return
        if await self.config.store.pushed.take(pending.client_id, pending.pushed) is None:
            raise AccessDenied("This authorization request has expired or was already "
                               "answered.")

    async def approved_scopes(
        self, client: Client, pending: PendingAuthorization, decision: consent.Decision,
        target: areq.RedirectTarget,
    ) -> tuple[AuthorizationGrant, frozenset[str]]:
        """The grant answering and the scopes it grants: those the user kept, each still
        grantable right now."""
        audit = {"actor": f"user:{pending.user}", "user": pending.user,
                 "client": client.client_id}
        if not decision.approve:
            await note(self.config.audit, "consent.denied", scopes=pending.scopes, **audit)
            await remembered.remember(self.config, pending.user, client, approved=(),
                                      declined=pending.scopes, audience=pending.audience)
            raise areq.ErrorRedirect(AccessDenied(), target)
        if not set(decision.scopes) <= set(pending.scopes):
            raise InvalidRequest("The consent form names a scope that was not requested.")
        if not decision.scopes:
            await note(self.config.audit, "consent.denied", scopes=pending.scopes, **audit)
            await remembered.remember(self.config, pending.user, client, approved=(),
                                      declined=pending.scopes, audience=pending.audience)
            raise areq.ErrorRedirect(AccessDenied("No scope was approved."), target)
        try:
            _, grant = areq.check_response_type(self.config, self.grants, client,
                                                pending.response_type)
            scopes = await grantable_scopes(self.config.store, client, decision.scopes)
        except OAuthError as exc:
            raise areq.ErrorRedirect(exc, target) from None
        await remembered.remember(self.config, pending.user, client, approved=scopes,
                                  declined=set(pending.scopes) - scopes,
                                  audience=pending.audience)
        await note(self.config.audit, "consent.granted", scopes=scopes, **audit)
        return grant, scopes
