"""The consent decision and its CSRF defences (RFC 6749 §10.12, RFC 9700 §4.7).

The pending request lives in Redis, bound to the user (``store.consent.put_pending``);
the consent form carries only its transaction id and a CSRF token. The token is
an itsdangerous-signed, expiring value bound to the user and the transaction,
compared in constant time; the transaction is taken once, atomically (a Lua
script, :meth:`TokenStore.take_pending`), so a form can be answered once. On
top of the token, a POST a browser marks as cross-site (``Sec-Fetch-Site``) or
from another origin (``Origin``) is refused outright.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from starlette.requests import Request

from oauth_middleware import csrf
from oauth_middleware.content_length import BodyGone, BodyTooLarge, read_bounded
from oauth_middleware.errors import AccessDenied, InvalidRequest, RequestTooLarge
from oauth_middleware.server.urlencoded import Params, parse

#: Form field names of the consent page (templates must keep them).
TRANSACTION_FIELD = "transaction"
CSRF_FIELD = "csrf_token"
SCOPE_FIELD = "scope"
DECISION_FIELD = "decision"
#: A consent form is small: one field per scope plus three.
MAX_FORM_BYTES = 32 * 1024
MAX_FORM_FIELDS = 256
_FORM_TYPE = "application/x-www-form-urlencoded"
_DEFAULT_PORTS = {"http": 80, "https": 443}


class CsrfTokens(csrf.CsrfTokens):
    """Consent tokens: bound to one user and one consent transaction (shared implementation)."""

    #: Separates these signatures from any other use of the same secret key.
    SALT = "oauth_middleware.consent.csrf"

    def __init__(self, secret_key: bytes, *, max_age: int, clock: Callable[[], float]) -> None:
        super().__init__(secret_key, salt=self.SALT, max_age=max_age, clock=clock)


@dataclass(frozen=True, slots=True)
class Decision:
    """What the user chose on the consent page, after the CSRF token was verified."""

    transaction: str
    approve: bool
    scopes: tuple[str, ...]


def origin_of(url: str) -> str:
    """The RFC 6454 origin of an absolute URL, as browsers send it in ``Origin``."""
    parts = urlsplit(url)
    scheme, host = parts.scheme.lower(), (parts.hostname or "")
    if ":" in host:
        host = f"[{host}]"
    port = parts.port
    suffix = "" if port is None or port == _DEFAULT_PORTS.get(scheme) else f":{port}"
    return f"{scheme}://{host}{suffix}"


def refuse_cross_site(request: Request, origin: str) -> None:
    """403 for a POST the browser says came from elsewhere (Fetch Metadata, RFC 6454 §7).

    Our pages send ``Referrer-Policy: no-referrer``, under which browsers send
    ``Origin: null`` even for a same-origin form POST (Fetch §3.1); ``null`` is
    then accepted only when ``Sec-Fetch-Site`` vouches for the same origin.
    """
    sites = request.headers.getlist("sec-fetch-site")
    origins = request.headers.getlist("origin")
    if len(sites) > 1 or len(origins) > 1:
        raise AccessDenied("Cross-site requests are refused.")
    site = sites[0].lower() if sites else None
    if site is not None and site != "same-origin":
        raise AccessDenied("Cross-site requests are refused.")
    sent = origins[0] if origins else None
    if sent is None or sent == origin or (sent == "null" and site == "same-origin"):
        return
    raise AccessDenied("Cross-origin requests are refused.")


async def read_form(request: Request) -> Params:
    """The consent form body, strictly decoded and bounded (400/413 otherwise)."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != _FORM_TYPE:
        raise InvalidRequest("The consent form must be application/x-www-form-urlencoded.")
    try:
        body = await read_bounded(request, MAX_FORM_BYTES)
    except ValueError:
        raise InvalidRequest("The Content-Length header is malformed.") from None
    except BodyTooLarge:
        raise RequestTooLarge("The consent form is too large.") from None
    except BodyGone:  # the browser went away: a refusal, not a server error
        raise InvalidRequest("The browser went away before the form was read.") from None
    return parse(body, max_bytes=MAX_FORM_BYTES, max_fields=MAX_FORM_FIELDS)


def read_decision(form: Params, user: str, tokens: CsrfTokens) -> Decision:
    """The verified decision, or 403 (no valid CSRF token) / 400 (no valid decision)."""
    if form.repeated((TRANSACTION_FIELD, CSRF_FIELD, DECISION_FIELD)):
        raise AccessDenied("The consent form could not be verified.")
    transaction, token = form.get(TRANSACTION_FIELD), form.get(CSRF_FIELD)
    if transaction is None or token is None or not tokens.verify(token, user, transaction):
        raise AccessDenied("The consent form could not be verified.")
    choice = form.get(DECISION_FIELD)
    if choice not in ("approve", "deny"):
        raise InvalidRequest("The consent form carries no decision.")
    scopes = tuple(dict.fromkeys(form.values(SCOPE_FIELD)))
    return Decision(transaction, choice == "approve", scopes)
