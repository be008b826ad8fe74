"""Connected apps: where a person sees and revokes what they authorized (RFC 7009 §2.1).

``app.mount("/account/apps", ConnectedAppsApp(store=store, secret_key=key))``, or
``oauth.connected_apps()``. The person is the host's signed-in user, found the way
``auth/`` finds the resource owner (``authenticate``); a request carrying a bearer
token, or a token's identity, is refused before any hook is asked (RFC 9700 §4.14):
an access token of alice's, held by a client, must never revoke alice's other apps.

Every POST needs a CSRF token bound to the signed-in person and a same-site origin;
what it names (a grant id, a client id) is only ever looked for among that person's
own grants, by the store script that revokes it. Given an audit trail, each revocation
is recorded as ``token.revoked`` by the person (actor ``user:<id>``, ``by`` ``user``).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from oauth_middleware import request_id, settings_checks
from oauth_middleware.account.forms import FIELD, Refused, read_form
from oauth_middleware.account.page import NOTICES, render, show
from oauth_middleware.audit import AuditTrail, cascading, note
from oauth_middleware.csrf import CsrfTokens
from oauth_middleware.errors import UnusableUserId
from oauth_middleware.hooks import run_hook
from oauth_middleware.identity import ACCESS_TOKEN_PARAM, carries_bearer
from oauth_middleware.redaction import redact_scope
from oauth_middleware.redirects import add_params
from oauth_middleware.store import Cascade, StoreUnavailable, TokenStore
from oauth_middleware.transport import Transport
from oauth_middleware.web import (
    Authenticate,
    authentication,
    redirect,
    signing_key,
    usable_id,
    user_from_scope,
)

#: Seconds a page's forms stay usable.
CSRF_MAX_AGE = 8 * 3600
#: Longest client id or grant id a form may name (longer names no grant of anyone's).
MAX_ID = 2048
TOKEN_REFUSED = ("An access token cannot sign in here: sign in to this site instead, "
                 "without an access token.")
NOTHING_REVOKED = ("Nothing was revoked: none of your connected apps matches what the form "
                   "named. It may have been revoked already, or it is not yours.")


class ConnectedAppsApp:
    """The mounted connected-apps page; options checked at construction."""

    def __init__(self, *, store: TokenStore, secret_key: str | bytes | None = None,
                 login_url: str = "/login", authenticate: Authenticate = user_from_scope,
                 debug: bool = False, retry_after: int = 5,
                 audit: AuditTrail | None = None) -> None:
        settings_checks.check_options("ConnectedAppsApp", settings_checks.ACCOUNT, locals())
        self.store = store
        self.audit = audit
        self.login_url = login_url
        self.authenticate = authenticate
        self.retry_after = retry_after
        self.transport = Transport(debug=debug, name="ConnectedAppsApp")
        self.csrf = CsrfTokens(signing_key(secret_key, debug=debug), max_age=CSRF_MAX_AGE,
                               salt="oauth_middleware.account.csrf", clock=store.clock)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            response = await self.handle(Request(scope, receive))
            await response(scope, receive, send)
        elif scope["type"] == "websocket":
            redact_scope(scope)
            await send({"type": "websocket.close", "code": 1008})

    async def handle(self, request: Request) -> Response:
        """One answer: every refusal and an unreachable store become a page that says why."""
        redact_scope(request.scope)  # before any refusal: servers log the URL from the scope
        try:
            return await self._answer(request)
        except Refused as exc:
            return render("message.html", exc.status, message=exc.message)
        except StoreUnavailable:
            response = render("message.html", 503, message="The service is unavailable for a "
                              "moment; nothing was changed. Try again shortly.")
            response.headers["Retry-After"] = str(self.retry_after)
            return response

    async def _answer(self, request: Request) -> Response:
        if not self.transport.secure(request.scope):
            raise Refused(400, "HTTPS is required.")
        if carries_bearer(request):
            raise Refused(400, TOKEN_REFUSED)
        path = _route_path(request.scope)
        actions = {"/revoke": self._revoke_grant, "/disconnect": self._disconnect}
        if request.method in ("GET", "HEAD") and path == "/":
            user = await self._user(request)
            if user is None:
                return self._login(request)
            done = request.query_params.get("done", "")
            return await show(self.store, user, self.csrf.issue(user), NOTICES.get(done))
        if request.method == "POST" and path in actions:
            user = await self._user(request)
            if user is None:
                return self._login(request)
            form = await self._checked_form(request, user)
            return await actions[path](request, user, form)
        raise Refused(404 if path not in ("/", *actions) else 405, "There is no such page.")

    async def _user(self, request: Request) -> str | None:
        """Who is signed in; :class:`Refused` when the host's sign-in answered an id nobody
        may be signed in with (:func:`~oauth_middleware.web.usable_id`)."""
        signed_in = authentication(await run_hook(self.authenticate, request))
        if signed_in is None:
            return None
        if not usable_id(signed_in.user_id, "authenticate"):
            raise Refused(403, UnusableUserId.default_description)
        return signed_in.user_id

    def _login(self, request: Request) -> Response:
        """303 to the host's login page, back to this page afterwards (never re-posting)."""
        return redirect(add_params(self.login_url, {"next": request.scope.get("root_path", "")
                                                    + "/"}))

    async def _checked_form(self, request: Request, user: str) -> dict[str, str]:
        if request.headers.get("sec-fetch-site", "") == "cross-site":
            raise Refused(403, "Forms posted from another site are refused. Nothing was changed.")
        form = await read_form(request)
        if ACCESS_TOKEN_PARAM in form:
            raise Refused(400, TOKEN_REFUSED)
        if not self.csrf.verify(form.get(FIELD), user):
            raise Refused(403, "This form has expired or did not come from this page: reload "
                               "the page and try again. Nothing was changed.")
        return form

    async def _revoke_grant(self, request: Request, user: str, form: dict[str, str]
                            ) -> Response:
        grant_id = form.get("grant_id", "")[:MAX_ID]
        if not await self.store.revoke_user_grant(user, grant_id,
                                                  cascade=self._cascade(request)):
            raise Refused(404, NOTHING_REVOKED)
        await self._revoked(request, user, grant=grant_id, reason="grant")
        return self._done(request, "revoked")

    async def _disconnect(self, request: Request, user: str, form: dict[str, str]) -> Response:
        client_id = form.get("client_id", "")
        if not client_id or len(client_id) > MAX_ID:
            raise Refused(404, NOTHING_REVOKED)
        if await self.store.revoke_user_client(user, client_id,
                                               cascade=self._cascade(request)) == (0, 0):
            raise Refused(404, NOTHING_REVOKED)
        await self._revoked(request, user, client=client_id,
                            reason="every grant of the client, its remembered consent")
        return self._done(request, "disconnected")

    def _cascade(self, request: Request) -> Cascade | None:
        """What records the grants a person's revocation takes with it (exchanged from
        theirs), with the request's id (None: the page keeps no trail)."""
        if self.audit is not None:
            request_id.adopt(request.scope)
        return cascading(self.audit)

    async def _revoked(self, request: Request, user: str, **fields: str) -> None:
        """Record the person's revocation (when the page keeps a trail)."""
        if self.audit is not None:
            request_id.adopt(request.scope)
        await note(self.audit, "token.revoked", actor=f"user:{user}", user=user, by="user",
                   **fields)

    @staticmethod
    def _done(request: Request, notice: str) -> Response:
        """303 back to the list: the browser GETs the result, and a reload re-posts nothing."""
        return redirect(f"{request.scope.get('root_path', '')}/?done={notice}")


def _route_path(scope: Scope) -> str:
    """The path below the mount point (``scope["root_path"]``)."""
    path: str = scope.get("path", "")
    root: str = scope.get("root_path", "")
    if root and path.startswith(root) and path[len(root):len(root) + 1] in ("", "/"):
        path = path[len(root):]
    return path or "/"
