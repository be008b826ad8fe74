"""The device verification page ``device`` (RFC 8628 §3.3, §5.1, §5.4): a person approves a device.

Only the host's login says who approves (a request carrying a bearer token is refused,
:func:`~oauth_middleware.server.authorize.refuse_bearer`); an anonymous person is sent
to the login URL first. ``GET device`` shows a form for the user code; ``GET
device?user_code=...`` (the form's answer, or ``verification_uri_complete``) looks the
code up and shows the client and scopes with Allow / Deny — never deciding from the URL
(§5.4: a link must not approve). The decision is a POST carrying a CSRF token bound to
the user and the code (:mod:`.consent`); the store decides a pending request once, so
approve and deny racing leave one answer.

A user code has 20**8 values (34.5 bits), so guesses are limited hard (§5.1): every
lookup reserves a place first (``Throttle.attempt``, bucket ``user_code``) and a wrong
code is counted before it is answered: 10 wrong codes per address per 5 minutes, and
past 100 wrong codes from all addresses in a window, one per address. With 1000 codes
waiting, one address's chance per window is 10 * 1000 / 20**8, under 1 in 2.5 million.
"""

from __future__ import annotations

import logging
import traceback

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from oauth_middleware.errors import (
    AccessDenied,
    InvalidRequest,
    MethodNotAllowed,
    OAuthError,
)
from oauth_middleware.policy import grantable_scopes
from oauth_middleware.redaction import redact_scope
from oauth_middleware.redirects import add_params
from oauth_middleware.security import USER_CODE_ALPHABET, USER_CODE_LENGTH
from oauth_middleware.server import consent
from oauth_middleware.server.authorize import refuse_bearer, signed_decision
from oauth_middleware.server.config import ServerConfig
from oauth_middleware.server.pages import Pages
from oauth_middleware.server.responses import redirect
from oauth_middleware.server.signed_in import signed_in_user
from oauth_middleware.server.throttle import Throttle, caller_address
from oauth_middleware.server.urlencoded import parse
from oauth_middleware.store import DeviceRequest, StoreUnavailable

logger = logging.getLogger("oauth_middleware.server.device")
#: The throttle subject every user code guess counts against (with the caller's address).
GUESSES = "device"
USER_CODE_PARAM = frozenset({"user_code"})
_MAX_QUERY = 1024
_IGNORED = str.maketrans("", "", "- \t")


def normalised_code(typed: str) -> str | None:
    """A user code as stored: case, dashes and spaces ignored (RFC 8628 §6.1); None if it
    cannot be one (and so is no guess worth counting)."""
    code = typed.translate(_IGNORED).upper()
    ok = len(code) == USER_CODE_LENGTH and all(c in USER_CODE_ALPHABET for c in code)
    return code if ok else None


class CsrfTokens(consent.CsrfTokens):
    """Decision tokens bound to one user and one user code, apart from consent's."""

    SALT = "oauth_middleware.device.csrf"


class DevicePage:
    """``device``: GET asks for (or confirms) a user code, POST records the decision."""

    def __init__(self, config: ServerConfig) -> None:
        self.config = config
        self.store = config.store
        self.pages = Pages(config.templates)
        self.csrf = CsrfTokens(config.secret_key, max_age=config.consent_lifetime,
                               clock=config.store.clock)
        self.origin = consent.origin_of(config.issuer)
        self.throttle = Throttle(config.store, config.throttle, config.audit)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # The server's access log prints the query: the user code must not be there.
        query = redact_scope(scope, USER_CODE_PARAM)
        request = Request(scope, receive)
        try:
            response = await self.answer(request, query)
        except OAuthError as exc:
            response = self.pages.error(exc)
        except StoreUnavailable:
            response = self.pages.unavailable(self.config.retry_after)
        except Exception as exc:  # a bug, or a broken user template: no traceback shown
            logger.error("device page failed with %s\n%s", type(exc).__name__,
                         "".join(traceback.format_tb(exc.__traceback__)))
            response = self.pages.server_error()
        await response(scope, receive, send)

    async def answer(self, request: Request, query: bytes) -> Response:
        """The page for ``query`` (the query string as sent; the scope's is redacted)."""
        if not self.config.transport.secure(request.scope):
            raise InvalidRequest("HTTPS is required: this page is not served over plain HTTP.")
        refuse_bearer(request)
        if request.method == "POST":
            return await self.decide(request)
        if request.method not in ("GET", "HEAD"):
            raise MethodNotAllowed(allow="GET, HEAD, POST")
        user = await signed_in_user(self.config.authenticate, request)
        if user is None:
            sent = query.decode("ascii")
            here = request.scope["path"] + (f"?{sent}" if sent else "")
            return redirect(add_params(self.config.login_url, {"next": here}))
        params = parse(query, max_bytes=_MAX_QUERY, max_fields=8)
        if params.repeated(("user_code",)):
            raise InvalidRequest("The user_code parameter is repeated.")
        typed = params.get("user_code")
        if typed is None or request.method == "HEAD":
            return self.entry(request)
        return await self.confirm(request, user.user_id, typed)

    def entry(self, request: Request, error: str | None = None, status: int = 200) -> Response:
        return self.pages.render("device.html", status, action=request.scope["path"],
                                 error=error)

    async def confirm(self, request: Request, user: str, typed: str) -> Response:
        """Look the code up, each wrong guess counted first; show what approving grants."""
        code = normalised_code(typed)
        if code is None:
            return self.entry(request, "That is not a code of this site: check it.", 400)
        address = caller_address(request.scope)
        async with self.throttle.attempt("user_code", GUESSES, address) as attempt:
            found = await self.store.device.by_user_code(code)
            if found is None or found.state != "pending":
                await attempt.failed()
                return self.entry(request, "This code is unknown, expired or used.", 400)
            await attempt.passed()
        client = await self.store.get_client(found.client_id)
        if client is None or client.generation != found.client_generation:
            return self.entry(request, "This device's application is no longer registered.", 400)
        known = await self.store.get_scopes(found.scopes)
        return self.pages.render(
            "device_confirm.html", client=client, user=user, action=request.scope["path"],
            scopes=[known[s] for s in found.scopes if s in known], resources=found.audience,
            fields={"transaction": consent.TRANSACTION_FIELD, "csrf_token": consent.CSRF_FIELD,
                    "scope": consent.SCOPE_FIELD, "decision": consent.DECISION_FIELD},
            transaction=code, csrf_token=self.csrf.issue(user, code),
            shown_code=f"{code[:4]}-{code[4:]}")

    async def decide(self, request: Request) -> Response:
        """POST: the decision, only from our own form, taken once by the store."""
        user, decision = await signed_decision(request, self.origin, self.config.authenticate,
                                               self.csrf)
        code = decision.transaction
        found = await self.store.device.by_user_code(code)
        if found is None or found.state != "pending":
            raise AccessDenied("This code has expired or was already answered.")
        scopes = await self.approved(found, decision)
        if not await self.store.device.decide(found, code, approve=bool(scopes),
                                              subject=user, scopes=scopes):
            raise AccessDenied("This code has expired or was already answered.")
        return self.pages.render("device_done.html", approved=bool(scopes))

    async def approved(self, found: DeviceRequest, decision: consent.Decision
                       ) -> tuple[str, ...]:
        """The scopes approved (empty: denied), those the user kept, still grantable."""
        if not decision.approve or not decision.scopes:
            return ()
        if not set(decision.scopes) <= set(found.scopes):
            raise InvalidRequest("The form names a scope that was not requested.")
        client = await self.store.get_client(found.client_id)
        if client is None or client.generation != found.client_generation:
            raise InvalidRequest("The client is no longer registered.")
        return tuple(sorted(await grantable_scopes(self.store, client, decision.scopes)))
