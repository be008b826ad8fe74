"""Client authentication at the token family (RFC 6749 §2.3.1, §3.2.1; RFC 7009 §2.1).

Two methods for confidential clients: HTTP Basic (``client_secret_basic``: the
header's base64 is decoded, split on the FIRST ``:``, then each half is
form-urlencoding-decoded, as RFC 6749 §2.3.1 requires — oauthost forgot the
last step) and ``client_secret_post``. Using both at once is ``invalid_request``.
Public clients identify themselves by ``client_id`` alone (``none``); which
grants allow that is the token endpoint's decision.

Every failure is the same 401 ``invalid_client`` with a ``Basic`` challenge:
an unknown client and a wrong secret cannot be told apart, not even by timing
(an unknown client's secret is checked against a dummy hash). A malformed Basic
header is a failed authentication, never a 500; so is an ``Authorization``
header longer than :data:`MAX_AUTHORIZATION_BYTES`, refused before it is decoded
or hashed (the ASGI server may pass a header of any length: uvicorn with
httptools has no header cap at all).
"""

from __future__ import annotations

import base64
import binascii
import logging
from dataclasses import dataclass, field
from typing import Literal

from starlette.requests import Request

from oauth_middleware.errors import InvalidClient, InvalidRequest
from oauth_middleware.models import Client
from oauth_middleware.policy import validate_client_id
from oauth_middleware.security import (
    fingerprint,
    hash_client_secret,
    new_secret,
    verify_client_secret,
)
from oauth_middleware.server.client_documents import (
    DocumentClients,
    DocumentRefused,
    is_client_id_url,
)
from oauth_middleware.server.form import Params, unquote
from oauth_middleware.server.throttle import Throttle, caller_address
from oauth_middleware.store import ClientRead, Lookahead, TokenStore

logger = logging.getLogger("oauth_middleware.server")

AuthMethod = Literal["client_secret_basic", "client_secret_post", "none"]
#: What metadata advertises for the token and revocation endpoints (RFC 8414 §2).
AUTH_METHODS: tuple[AuthMethod, ...] = ("client_secret_basic", "client_secret_post", "none")

#: Longest ``Authorization`` header read at the token family (bytes). A Basic header
#: of our ids and secrets is under 200; 8 KiB leaves room for long third-party ids.
MAX_AUTHORIZATION_BYTES = 8 * 1024

#: Checked when the client is unknown, so that case costs what a wrong secret costs.
_DUMMY_HASH = hash_client_secret(new_secret())


@dataclass(frozen=True, slots=True)
class Presented:
    """The credentials a request carries; ``secret`` is None for a public client."""

    client_id: str
    secret: str | None = field(repr=False)
    method: AuthMethod


def authorization_header(request: Request) -> bytes | None:
    """The single ``Authorization`` header, raw; two of them are malformed."""
    values = [v for k, v in request.scope["headers"] if k == b"authorization"]
    if len(values) > 1:
        raise InvalidRequest("More than one Authorization header.")
    return values[0] if values else None


def parse_basic(header: bytes) -> tuple[str, str] | None:
    """``(client_id, secret)`` of a Basic header; None for other schemes; InvalidClient if bad.

    An over-long header is a failed authentication whatever its scheme, like any
    malformed one: at the token family this header only ever carries client
    credentials, and nothing past the cap is worth decoding.
    """
    if len(header) > MAX_AUTHORIZATION_BYTES:
        raise InvalidClient()
    scheme, _, encoded = header.strip().partition(b" ")
    if scheme.lower() != b"basic":
        return None
    try:
        text = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
        raw_id, colon, raw_secret = text.partition(":")
        if not colon:
            raise InvalidClient()
        client_id, secret = unquote(raw_id.encode()), unquote(raw_secret.encode())
    except (binascii.Error, UnicodeError, ValueError, InvalidRequest):
        raise InvalidClient() from None
    if not client_id:
        raise InvalidClient()
    return client_id, secret


def presented(request: Request, params: Params) -> Presented:
    """Which client the request claims to be, and how it proves it."""
    header = authorization_header(request)
    basic = parse_basic(header) if header is not None else None
    body_id, body_secret = params.get("client_id"), params.get("client_secret")
    if basic is not None:
        if body_secret is not None:
            raise InvalidRequest("Use one client authentication method, not two.")
        if body_id is not None and body_id != basic[0]:
            raise InvalidRequest("The client_id does not match the Authorization header.")
        return Presented(basic[0], basic[1] or None, "client_secret_basic")
    if body_id is None:
        raise InvalidClient()
    return Presented(body_id, body_secret, "client_secret_post" if body_secret else "none")


def _known_shape(client_id: str) -> bool:
    try:
        validate_client_id(client_id)
    except ValueError:
        return False
    return True


def _verified(client: Client | None, creds: Presented) -> bool:
    """True when ``creds`` prove ``client``; an unknown client still costs one hash check."""
    if creds.secret is None:
        return client is not None and client.public
    confidential = client is not None and client.confidential
    stored = client.secret_hash if client is not None and confidential else _DUMMY_HASH
    return verify_client_secret(stored, creds.secret) and confidential


class ClientAuthenticator:
    """Authenticates the calling client; guesses at a secret are throttled per client id and
    caller address (RFC 6749 §2.3.1, :mod:`.throttle`)."""

    def __init__(self, store: TokenStore, throttle: Throttle,
                 documents: DocumentClients | None = None) -> None:
        self.store = store
        self.throttle = throttle
        #: Resolves client ids that are metadata-document URLs; None: none are accepted.
        self.documents = documents

    async def authenticate_ahead(
        self, request: Request, params: Params, *, ahead: Lookahead,
    ) -> tuple[Client, ClientRead]:
        """The authenticated client, or :class:`InvalidClient` / :class:`SlowDown`, and what
        ``ahead`` names, read in the same round trip; the caller may use that only once
        this returned (the client is then proven).

        Only a presented secret can be a guess: a public client's bare ``client_id``
        is neither counted nor throttled. A wrong secret is counted before it is
        answered; a right one is judged by the counters read after it was checked.
        """
        creds = presented(request, params)
        address = caller_address(request.scope)
        known = _known_shape(creds.client_id) or await self._document(creds, address)
        read = await self.store.read_for(creds.client_id if known else None, ahead)
        client = read.client
        if not _verified(client, creds) or client is None:
            # A registered client is named; anything else may be a secret pasted where
            # the id goes (id and secret swapped), so it gets a fingerprint only.
            named = repr(client.client_id) if client is not None else (
                f"an unknown client {fingerprint(creds.client_id)}")
            logger.info("client authentication failed (%s) for %s", creds.method, named)
            if creds.secret is not None:
                await self.throttle.failed("client", creds.client_id, address)
            raise InvalidClient()
        if creds.secret is not None:
            await self.throttle.check("client", creds.client_id, address)
        return client, read

    async def _document(self, creds: Presented, address: str) -> bool:
        """Whether ``creds`` name a metadata-document client whose document is usable now
        (fetched again when stale); such a client is public, so a secret names none."""
        if self.documents is None or creds.secret is not None \
                or not is_client_id_url(creds.client_id):
            return False
        try:
            await self.documents.client(creds.client_id, address)
        except DocumentRefused as exc:
            logger.info("client %r refused: %s", creds.client_id, exc)
            raise InvalidClient("The client's metadata document cannot be used.") from None
        return True
