"""The logout endpoint ``end_session/`` (OpenID Connect RP-Initiated Logout 1.0 §2-§3).

A relying party sends the user here (GET, or a form POST) to end their session at this
server; the host's own ``logout(request)`` hook ends it (sync or async, its answer
ignored). Parameters: ``id_token_hint`` (:mod:`.id_token_hint`), ``client_id``,
``post_logout_redirect_uri`` and ``state``. Who is asked:

- nobody is signed in: nothing to end, the request is answered at once;
- the hint is a valid ID token of the signed-in user: logged out at once (§2 lets the
  OP skip asking when the request is tied to the user's session);
- anything else (no hint, another user's, a cross-site link): a confirmation page whose
  form POSTs back with a CSRF token bound to the user and the request, refused from
  another site (:func:`.consent.refuse_cross_site`). A GET never logs anyone out by
  itself, so a link or an image on another site cannot sign people out silently.

The answer is a 303 to ``post_logout_redirect_uri`` (with ``state``) only when it is
registered, exactly, for the client the hint or ``client_id`` names (§3.1); otherwise a
page, never a redirect. A ``client_id`` the hint was not issued to is refused (§2).
"""

from __future__ import annotations

import logging
import traceback
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route
from starlette.types import Receive, Scope, Send

from oauth_middleware.csrf import CsrfTokens
from oauth_middleware.errors import AccessDenied, InvalidRequest, MethodNotAllowed, OAuthError
from oauth_middleware.hooks import run_hook
from oauth_middleware.models import Client
from oauth_middleware.policy import validate_client_id
from oauth_middleware.redaction import redact
from oauth_middleware.redirects import MAX_REDIRECT_URI_LENGTH, add_params
from oauth_middleware.server import consent
from oauth_middleware.server.authorize import refuse_bearer
from oauth_middleware.server.config import ServerConfig
from oauth_middleware.server.id_token_hint import MAX_HINT, IdTokenHint, verify_hint
from oauth_middleware.server.oidc.subject import subject
from oauth_middleware.server.pages import Pages
from oauth_middleware.server.responses import redirect
from oauth_middleware.server.signed_in import signed_in_user
from oauth_middleware.server.urlencoded import Params, parse
from oauth_middleware.store import StoreUnavailable

logger = logging.getLogger("oauth_middleware.server.end_session")

PARAMETERS = ("id_token_hint", "client_id", "post_logout_redirect_uri", "state")
MAX_LENGTHS = {"id_token_hint": MAX_HINT, "client_id": 128,
               "post_logout_redirect_uri": MAX_REDIRECT_URI_LENGTH, "state": 4096}
MAX_QUERY_BYTES = 24 * 1024
MAX_FIELDS = 64
#: Blanked in the scope as soon as it is read: an ID token is no line for the access log.
LOGGED_BLANK = frozenset({"id_token_hint"})
#: The confirmation form's own fields.
CSRF_FIELD = "csrf_token"
DECISION_FIELD = "decision"


@dataclass(frozen=True, slots=True)
class LogoutRequest:
    """A checked request: where to send the user afterwards, if anywhere."""

    client_id: str | None = None
    #: Registered for the client: the user goes back there with ``state``.
    redirect_uri: str | None = None
    state: str | None = None
    #: A ``post_logout_redirect_uri`` was sent but is not registered: say so, stay here.
    refused_uri: bool = False
    hint: IdTokenHint | None = None
    #: The client named, read from the store (whose ``sub`` the hint carries).
    client: Client | None = None

    def fields(self) -> dict[str, str]:
        """What the confirmation form carries back (and its CSRF token is bound to)."""
        values = {"client_id": self.client_id, "post_logout_redirect_uri": self.redirect_uri,
                  "state": self.state if self.redirect_uri else None}
        return {name: value for name, value in values.items() if value is not None}


def routes(config: ServerConfig) -> list[BaseRoute]:
    """``end_session/`` with and without its slash, when the host gave a ``logout`` hook."""
    if config.logout is None:
        return []
    endpoint = EndSessionEndpoint(config)
    return [Route("/end_session/", endpoint, name="oauth_end_session"),
            Route("/end_session", endpoint)]


class EndSessionEndpoint:
    """``end_session/``: one of the pages' error boundaries, as ``auth/`` is."""

    def __init__(self, config: ServerConfig) -> None:
        self.config = config
        self.pages = Pages(config.templates)
        self.csrf = CsrfTokens(config.secret_key, salt="oauth_middleware.logout.csrf",
                               max_age=config.consent_lifetime, clock=config.store.clock)
        self.origin = consent.origin_of(config.issuer)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = await self.handle(Request(scope, receive))
        await response(scope, receive, send)

    async def handle(self, request: Request) -> Response:
        query: bytes = request.scope.get("query_string", b"")
        request.scope["query_string"] = redact(query, LOGGED_BLANK)
        try:
            return await self.answer(request, query)
        except OAuthError as exc:
            return self.pages.error(exc)
        except StoreUnavailable:
            return self.pages.unavailable(self.config.retry_after)
        except Exception as exc:  # also a broken user template
            logger.error("logout endpoint failed with %s\n%s", type(exc).__name__,
                         "".join(traceback.format_tb(exc.__traceback__)))
            return self.pages.server_error()

    async def answer(self, request: Request, query: bytes) -> Response:
        if not self.config.transport.secure(request.scope):
            raise InvalidRequest("HTTPS is required: this page is not served over plain HTTP.")
        refuse_bearer(request)
        if request.method in ("GET", "HEAD"):
            params = parse(query, max_bytes=MAX_QUERY_BYTES, max_fields=MAX_FIELDS)
        elif request.method == "POST":
            params = await consent.read_form(request)
            refuse_bearer(request, params)
            if params.values(CSRF_FIELD):
                return await self.confirmed(request, params)
        else:
            raise MethodNotAllowed(allow="GET, HEAD, POST")
        logout = await self.read(params)
        user = await self.signed_in(request)
        if user is None:
            return self.finish(logout)
        if self.hint_names(user, logout) and request.method != "HEAD":
            await self.end(request, user, logout)
            return self.finish(logout)
        return self.pages.render(
            "end_session.html", user=user, action=request.scope["path"],
            fields=logout.fields(), csrf_field=CSRF_FIELD, decision_field=DECISION_FIELD,
            csrf_token=self.csrf.issue(user, *_binding(logout.fields())))

    async def confirmed(self, request: Request, form: Params) -> Response:
        """The confirmation form, posted by the signed-in user from this site only."""
        consent.refuse_cross_site(request, self.origin)
        if form.repeated((CSRF_FIELD, DECISION_FIELD, *PARAMETERS)):
            raise AccessDenied("The sign-out form could not be verified.")
        logout = await self.read(form, confirmation=True)
        user = await self.signed_in(request)
        if user is None:  # signed out meanwhile (another tab): nothing left to end
            return self.finish(logout)
        token = form.get(CSRF_FIELD)
        if not self.csrf.verify(token, user, *_binding(logout.fields())):
            raise AccessDenied("The sign-out form could not be verified.")
        if form.get(DECISION_FIELD) != "logout":
            return self.pages.render("signed_out.html", signed_out=False, refused_uri=False)
        await self.end(request, user, logout)
        return self.finish(logout)

    async def signed_in(self, request: Request) -> str | None:
        """The signed-in user's id; ``authenticate`` may answer an ``Authentication``."""
        signed_in = await signed_in_user(self.config.authenticate, request)
        return None if signed_in is None else signed_in.user_id

    async def read(self, params: Params, *, confirmation: bool = False) -> LogoutRequest:
        """The request checked: hint, client, and where the user may be sent back."""
        params.refuse_malformed(PARAMETERS, MAX_LENGTHS)
        raw_hint = None if confirmation else params.get("id_token_hint")
        hint = await verify_hint(self.config, raw_hint) if raw_hint is not None else None
        client_id = params.get("client_id")
        if hint is not None and client_id is not None and not hint.names(client_id):
            raise InvalidRequest("The client_id is not the client the id_token_hint was "
                                 "issued to.")
        client = await self._client(client_id or (hint.client_id if hint else None))
        uri = params.get("post_logout_redirect_uri")
        registered = uri is not None and client is not None \
            and uri in client.post_logout_redirect_uris
        return LogoutRequest(
            client_id=client.client_id if client else None,
            redirect_uri=uri if registered else None,
            state=params.get("state"), refused_uri=uri is not None and not registered,
            hint=hint, client=client)

    def hint_names(self, user: str, logout: LogoutRequest) -> bool:
        """Whether the hint is an ID token of ``user``: its ``sub`` is the one the ID tokens
        of its client carry — under pairwise subjects that client's pairwise value (Core 1.0
        §8.1), never the user id itself."""
        if logout.hint is None:
            return False
        provider = self.config.openid
        if provider is None or provider.subject_type == "public":
            return logout.hint.subject == user
        if logout.client is None:  # no client to say whose pairwise sub it is: ask
            return False
        return logout.hint.subject == subject(provider, self.config.secret_key, logout.client,
                                              user)

    async def _client(self, client_id: str | None) -> Client | None:
        if client_id is None:
            return None
        try:
            validate_client_id(client_id)
        except ValueError:
            raise InvalidRequest("The client is unknown.") from None
        client = await self.config.store.get_client(client_id)
        if client is None:
            raise InvalidRequest("The client is unknown.")
        return client

    async def end(self, request: Request, user: str, logout: LogoutRequest) -> None:
        """The host's hook ends the session; logged with the client, never the hint."""
        if self.config.logout is not None:
            await run_hook(self.config.logout, request)
        logger.info("session ended at the request of client %s", logout.client_id or "-")

    def finish(self, logout: LogoutRequest) -> Response:
        """Back to the client's registered URI with ``state``, or the signed-out page."""
        if logout.redirect_uri is not None:
            uri = logout.redirect_uri
            if logout.state is not None:
                uri = add_params(uri, {"state": logout.state})
            return redirect(uri)
        return self.pages.render("signed_out.html", signed_out=True,
                                 refused_uri=logout.refused_uri)


def _binding(fields: dict[str, str]) -> tuple[str, ...]:
    """The confirmation's CSRF token binds every field it carries, in a fixed order."""
    return tuple(fields.get(name, "") for name in ("client_id", "post_logout_redirect_uri",
                                                   "state"))
