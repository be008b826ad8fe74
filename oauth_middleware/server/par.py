"""Pushed authorization requests (RFC 9126): ``par/``, and what ``auth/`` reads back.

``par/`` is a token-family endpoint (JSON answers, the strict form parser, client
authentication exactly as at ``token/``, its failures counted by the same throttle).
A public client authenticates by ``client_id`` alone, as it does at ``token/``
(RFC 9126 §2: "as it would at the token endpoint"): pushing gains it nothing it could
not ask ``auth/`` for, and ``auth/`` still requires its PKCE. The parameters are
validated by the code ``auth/`` runs (:mod:`.authorization_request`), so what is
accepted here would be accepted there; any error is answered to the client as JSON
(§2.3), never by redirect. The request is stored (:mod:`oauth_middleware.store._pushed`)
without the client's secret, as the query string ``auth/`` would have read, under the
digest of a random reference; the answer names it as
``urn:ietf:params:oauth:request_uri:<reference>`` (§2.2).

At ``auth/`` a ``request_uri`` stands for the pushed parameters (RFC 9101 §6.3: only
those count): a parameter also sent in the query is ignored when it says the same,
refused when it differs; one the pushed request lacks is ignored. An unknown, expired,
used or foreign ``request_uri`` of ours is an error page: without the stored request no
redirect URI is trusted. Presented in time, a request is kept for the consent lifetime
from then, while the user signs in and decides. Any other ``request_uri`` would name a
request object (RFC 9101), which this server does not take: ``request_uri_not_supported``,
by redirect once the query's client and redirect URI passed. The request is read, not
taken, when the consent page is shown, so a reload shows it again (§4 allows this); it is
taken, atomically and once, when the user decides or when a remembered consent answers:
one code at most.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import quote, urlencode

from starlette.requests import Request
from starlette.responses import Response

from oauth_middleware.audit import note
from oauth_middleware.errors import InvalidRequest
from oauth_middleware.models import Client, PushedAuthorization
from oauth_middleware.security import digest
from oauth_middleware.server import authorization_request as areq
from oauth_middleware.server.boundary import FormEndpoint, logger
from oauth_middleware.server.client_auth import ClientAuthenticator
from oauth_middleware.server.client_documents import DocumentClients
from oauth_middleware.server.config import ServerConfig
from oauth_middleware.server.form import REPEATABLE, Params, values
from oauth_middleware.server.grants import Grants
from oauth_middleware.server.responses import json_response
from oauth_middleware.server.throttle import Throttle, caller_address
from oauth_middleware.server.urlencoded import Params as QueryParams
from oauth_middleware.server.urlencoded import parse
from oauth_middleware.store import Lookahead, TokenStore

#: RFC 9126 §2.2: the URN prefix of every ``request_uri`` we hand out.
PREFIX = "urn:ietf:params:oauth:request_uri:"
_REFERENCE = re.compile(r"[A-Za-z0-9_-]{32,128}")
#: Client credentials: proof of who pushed, never part of the request kept.
_CREDENTIALS = frozenset({"client_secret", "client_assertion", "client_assertion_type"})
_UNKNOWN = "The request_uri is unknown, expired or already used."


class PushedAuthorizationEndpoint(FormEndpoint):
    """``par/``: a client pushes its authorization request and gets a ``request_uri``."""

    def __init__(self, config: ServerConfig, grants: Grants, *,
                 documents: DocumentClients | None = None) -> None:
        super().__init__(config)
        self.grants = grants
        self.documents = documents
        # the token endpoint's throttle: guesses at a secret count wherever they are made
        self.clients = ClientAuthenticator(
            config.store, Throttle(config.store, config.throttle, config.audit), documents)

    async def answer(self, request: Request, params: Params) -> Response:
        client, _ = await self.clients.authenticate_ahead(request, params, ahead=Lookahead())
        if "request_uri" in params:
            raise InvalidRequest("A pushed request cannot itself carry a request_uri "
                                 "(RFC 9126 §2.1).")
        query = _query(params, client.client_id)
        await self.check(request, client, query)
        record = PushedAuthorization(
            client_id=client.client_id, client_generation=client.generation,
            query=urlencode(query.items, quote_via=quote), created_at=self.store.clock())
        lifetime = self.config.par_lifetime
        reference = await self.store.pushed.push(record, lifetime=lifetime,
                                                 cap=self.config.max_pushed_requests)
        logger.info("client %s pushed an authorization request", client.client_id)
        await note(self.config.audit, "request.pushed", actor=f"client:{client.client_id}",
                   client=client.client_id)
        return json_response({"request_uri": PREFIX + reference, "expires_in": lifetime},
                             status_code=201)

    async def check(self, request: Request, client: Client, query: QueryParams) -> None:
        """``auth/``'s own validation; its redirected errors are the client's JSON here."""
        found, target = await areq.identify(self.store, query, self.grants,
                                            documents=self.documents,
                                            caller=caller_address(request.scope))
        if found.client_id != client.client_id:  # unreachable: one id (typing, defence)
            raise InvalidRequest("The client_id does not match the authenticated client.")
        try:
            await areq.validate(self.config, self.grants, found, target, query, pushed="")
        except areq.ErrorRedirect as exc:
            raise exc.error from None


def _query(params: Params, client_id: str) -> QueryParams:
    """The pushed parameters as ``auth/`` reads a query: credentials left out, the
    authenticated client's id in, repeatable ones (``resource``) split again."""
    items = [("client_id", client_id)]
    for name, value in params.items():
        if name in _CREDENTIALS or name == "client_id":
            continue
        items.extend((name, v) for v in (values(params, name) if name in REPEATABLE
                                         else [value]))
    return QueryParams(tuple(items))


@dataclass(frozen=True, slots=True)
class Resolved:
    """A pushed request as ``auth/`` reads it: its parameters, and what to take once."""

    params: QueryParams
    #: Digest of the ``request_uri``'s reference (the record's key).
    sha: str
    record: PushedAuthorization

    def check_client(self, client: Client) -> None:
        """A client removed and registered again since the push is another client."""
        if client.generation != self.record.client_generation:
            raise InvalidRequest(_UNKNOWN)


async def resolve(store: TokenStore, query: QueryParams, *, keep_for: int = 0
                  ) -> Resolved | None:
    """The pushed request ``query`` names by ``request_uri``; None: it names none.

    Presented in time, the request is kept ``keep_for`` seconds (the consent lifetime) from
    now: ``expires_in`` bounds when the browser must arrive (RFC 9126 §2.2), not how long
    the user may take to sign in and decide. Every failure is an :class:`InvalidRequest`
    page: no redirect URI is known yet."""
    if not any(uri.startswith(PREFIX) for uri in query.values("request_uri")):
        return None  # none of ours: a request object by reference (JAR), refused later
    if query.repeated(("request_uri", "client_id")):
        raise InvalidRequest("The client_id or request_uri parameter is repeated.")
    client_id, request_uri = query.get("client_id"), query.get("request_uri")
    if client_id is None:
        raise InvalidRequest("The client_id parameter is missing.")
    reference = (request_uri or "").removeprefix(PREFIX)
    if request_uri is None or not _REFERENCE.fullmatch(reference):
        raise InvalidRequest(_UNKNOWN)
    record = await store.pushed.peek(client_id, reference, keep_for=keep_for)
    if record is None or record.client_id != client_id:
        raise InvalidRequest(_UNKNOWN)
    pushed = parse(record.query.encode("ascii"), max_bytes=areq.MAX_QUERY_BYTES,
                   max_fields=areq.MAX_FIELDS)
    for name in dict.fromkeys(name for name, _ in query.items):
        sent, kept = query.values(name), pushed.values(name)
        if sent and kept and sent != kept:
            raise InvalidRequest("A parameter differs from the one in the pushed request.")
    return Resolved(pushed, digest(reference), record)
