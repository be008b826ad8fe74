"""The web admin as one mountable ASGI app (RFC 6749 §2: clients, their URIs, scopes, tokens).

``app.mount("/admin", AdminApp(store=store, is_admin=..., secret_key=...))``.
Every request passes the access check first (HTTPS, a signed-in user, the
``is_admin`` hook); every POST then needs a CSRF token bound to that user. This
is the one place where refusals and an unreachable store become pages.
"""

from __future__ import annotations

from functools import partial
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from oauth_middleware import settings_checks
from oauth_middleware.admin import (
    client_grants,
    client_page,
    clients,
    consents,
    events,
    scopes,
    tokens,
)
from oauth_middleware.admin.access import TOKEN_REFUSED, admit
from oauth_middleware.admin.config import AdminConfig, IsAdmin
from oauth_middleware.admin.csrf import FIELD, CsrfTokens
from oauth_middleware.admin.forms import Form, read_form
from oauth_middleware.admin.refusals import Conflict, Forbidden, NotFound, Refusal, Unavailable
from oauth_middleware.admin.rendering import render
from oauth_middleware.admin.request import AdminRequest, href_under
from oauth_middleware.admin.routing import Handler, MissingSlash, Router, route_path
from oauth_middleware.audit import AuditTrail
from oauth_middleware.identity import ACCESS_TOKEN_PARAM
from oauth_middleware.redaction import redact_scope
from oauth_middleware.scope_registry import UnknownScope
from oauth_middleware.store import StoreUnavailable, TokenStore
from oauth_middleware.toolbox import ClientChanged, UnknownClient
from oauth_middleware.web import Authenticate, redirect, signing_key, user_from_scope

#: A client ID metadata document's client is named by an https URL: its id, quoted in
#: every link, arrives decoded with its slashes, so it is matched as a path. No action
#: below ends with ``/`` or with another action, so each address has one reading.
CLIENT = "/clients/{client_id:path}/"
CHANGED_MEANWHILE = ("Someone changed this client while you were editing it, so nothing was "
                     "saved: your form would have undone their change. Reload the page and "
                     "make your change again.")


async def home(req: AdminRequest) -> Response:
    return req.see_other("/clients/")


ROUTES: list[tuple[str, str, Handler]] = [
    ("GET", "/", home),
    ("GET", "/clients/", clients.listing),
    ("GET", "/events/", events.listing),
    ("GET", "/clients/new", clients.new_form),
    ("POST", "/clients/new", clients.create),
    ("GET", CLIENT, client_page.show),
    ("GET", CLIENT + "edit", clients.edit_form),
    ("POST", CLIENT + "edit", clients.update),
    ("POST", CLIENT + "delete", client_page.delete),
    ("POST", CLIENT + "secret", client_page.rotate),
    ("POST", CLIENT + "redirect-uris/add", client_page.add_redirect),
    ("POST", CLIENT + "redirect-uris/remove", client_page.remove_redirect),
    ("POST", CLIENT + "tokens/issue", client_grants.issue_token_page),
    ("POST", CLIENT + "codes/issue", client_grants.issue_code_page),
    ("POST", CLIENT + "tokens/revoke", client_grants.revoke_token),
    ("POST", CLIENT + "tokens/revoke-all", client_grants.revoke_all),
    ("GET", "/scopes/", scopes.listing),
    ("POST", "/scopes/add", scopes.add),
    ("POST", "/scopes/status", scopes.set_status),
    ("POST", "/scopes/delete", scopes.delete),
    ("GET", "/tokens/", tokens.listing),
    ("POST", "/tokens/revoke", tokens.revoke),
    ("POST", "/tokens/revoke-user", tokens.revoke_user),
    ("GET", "/consents/", consents.listing),
    ("POST", "/consents/forget", consents.forget),
]


class AdminApp:
    """The mounted web admin; every option is checked here, at construction."""

    def __init__(
        self,
        *,
        store: TokenStore,
        is_admin: IsAdmin,
        secret_key: str | bytes | None = None,
        login_url: str = "/login",
        authenticate: Authenticate = user_from_scope,
        debug: bool = False,
        page_size: int = 50,
        title: str = "OAuth admin",
        audit: AuditTrail | None = None,
    ) -> None:
        settings_checks.check_options("AdminApp", settings_checks.ADMIN, locals())
        self.config = AdminConfig(
            store=store, is_admin=is_admin, login_url=login_url, authenticate=authenticate,
            secret_key=signing_key(secret_key, debug=debug),
            debug=debug, page_size=page_size, title=title, audit=audit,
        )
        self.csrf = CsrfTokens(self.config.secret_key, max_age=self.config.csrf_max_age,
                               clock=store.clock)
        self.router = Router(ROUTES)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
        elif scope["type"] == "http":
            response = await self.handle(Request(scope, receive))
            await response(scope, receive, send)
        else:
            redact_scope(scope)  # the server logs the refused WebSocket's URL
            await send({"type": "websocket.close", "code": 1008})

    async def handle(self, request: Request) -> Response:
        """One page: access check, route, CSRF for a POST, then the page's handler."""
        user: str | None = None
        redact_scope(request.scope)  # before any refusal: servers log the URL from the scope
        try:
            _check_query(request)
            admitted = await admit(self.config, request)
            if isinstance(admitted, Response):
                return admitted
            user = admitted
            route, params = self.router.match(request.method, route_path(request.scope))
            form = await self._checked_form(request, user) if route.method == "POST" else Form()
            return await route.handler(
                AdminRequest(request, self.config, self.csrf, user, params, form))
        except MissingSlash as exc:
            return _with_slash(request, exc.path)
        except Refusal as exc:
            return self._refusal(request, exc, user)
        except StoreUnavailable:
            return self._refusal(request, Unavailable(self.config.retry_after), user)
        except ClientChanged:
            return self._refusal(request, Conflict(CHANGED_MEANWHILE), user)
        except (UnknownClient, UnknownScope):
            return self._refusal(request, NotFound("It does not exist (any more)."), user)

    async def _checked_form(self, request: Request, user: str) -> Form:
        """The form of a state-changing request, refused unless it carries the user's CSRF token."""
        if request.headers.get("sec-fetch-site", "") == "cross-site":
            raise Forbidden("Forms posted from another site are refused.")
        form = await read_form(request, self.config.max_body)
        if any(name == ACCESS_TOKEN_PARAM for name, _ in form.pairs):
            raise Refusal(TOKEN_REFUSED)
        if not self.csrf.verify(form.get(FIELD), user):
            raise Forbidden("This form has expired or did not come from this admin: "
                            "reload the page and try again. Nothing was changed.")
        return form

    def _refusal(self, request: Request, exc: Refusal, user: str | None) -> Response:
        admitted = user is not None and not isinstance(exc, Forbidden | Unavailable)
        root = request.scope.get("root_path", "")
        response = render(
            "error.html", exc.status_code, user=user, nav=admitted,
            site_title=self.config.title, section="", notice=None, heading=exc.title,
            message=exc.message, href=partial(href_under, root),
        )
        response.headers.update(exc.headers)
        return response


async def _lifespan(receive: Receive, send: Send) -> None:
    """Run standalone, the admin has nothing to start or stop: the store is the host's."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


def _with_slash(request: Request, path: str) -> Response:
    """The page asked for, at its address with the slash (``/admin/clients`` is typed, and
    linked, as often as ``/admin/clients/``); the query is kept, the path re-quoted, so a
    decoded control character in it never reaches the ``Location`` header."""
    query = quote(request.scope.get("query_string", b"").decode("utf-8"),
                  safe="=&%+/?:@!$'()*,;")
    location = quote(request.scope.get("root_path", "") + path)
    return redirect(f"{location}?{query}" if query else location)


def _check_query(request: Request) -> None:
    """Refuse a query string that is not UTF-8 (Starlette's ``request.url`` and
    ``query_params`` decode it strictly) before anything reads it."""
    try:
        request.scope.get("query_string", b"").decode("utf-8")
    except UnicodeDecodeError:
        raise Refusal("The address is not valid: its query is not UTF-8.") from None
