"""What every grant shares (RFC 6749 §4, §5.1, §3.3): the interface, parameters, scopes.

A grant is a small class keyed by its ``GRANT_TYPE``. It raises OAuth errors
and returns :class:`IssuedTokens`; turning either into a response is the token
endpoint's job. ``PUBLIC`` says whether a public client, known by its
``client_id`` alone, may use the grant at all.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Iterable
from typing import ClassVar

from oauth_middleware.errors import SCOPE_TOKEN, InvalidRequest, InvalidScope
from oauth_middleware.models import Client, GrantType, IssuedTokens, SubjectType
from oauth_middleware.server.config import ServerConfig
from oauth_middleware.server.form import Params
from oauth_middleware.server.throttle import Throttle
from oauth_middleware.store import ClientRead, Lookahead, NewTokens

logger = logging.getLogger("oauth_middleware.server")
#: Requested scopes read along with the client at most; a longer list is read after it.
MAX_LOOKAHEAD_SCOPES = 32


def required(params: Params, name: str) -> str:
    """A parameter the grant cannot do without (RFC 6749 §5.2 ``invalid_request``)."""
    value = params.get(name)
    if value is None:
        raise InvalidRequest(f"The {name} parameter is missing.")
    return value


def lookahead_scopes(params: Params) -> tuple[str, ...]:
    """The well-formed requested scopes, to read along with the client; never raises, since
    nothing may be refused before the client has authenticated."""
    raw = params.get("scope")
    items = tuple(s for s in raw.split(" ") if SCOPE_TOKEN.fullmatch(s)) if raw else ()
    return items if len(items) <= MAX_LOOKAHEAD_SCOPES else ()


def requested_scopes(params: Params) -> list[str] | None:
    """The ``scope`` parameter as a list (RFC 6749 §3.3), None when not sent."""
    raw = params.get("scope")
    items = [s for s in raw.split(" ") if s] if raw is not None else []
    if any(not SCOPE_TOKEN.fullmatch(s) for s in items):
        raise InvalidScope("A requested scope is malformed.")
    return items or None


class Grant(ABC):
    GRANT_TYPE: ClassVar[GrantType]
    #: May a public client (``client_id`` alone, RFC 6749 §2.1) use this grant?
    PUBLIC: ClassVar[bool] = False

    def __init__(self, config: ServerConfig, throttle: Throttle) -> None:
        self.config = config
        self.store = config.store
        self.throttle = throttle

    def lookahead(self, params: Params) -> Lookahead:
        """What :meth:`issue` will read, so it is read with the client in one round trip."""
        return Lookahead(scopes=lookahead_scopes(params), grants=True)

    @abstractmethod
    async def issue(
        self, client: Client, params: Params, read: ClientRead, address: str
    ) -> IssuedTokens:
        """Check the grant and issue tokens, or raise the OAuth error that says why not.

        ``read`` holds what :meth:`lookahead` named, read once ``client`` authenticated;
        ``address`` is the caller's (:func:`~oauth_middleware.server.throttle.caller_address`),
        for a grant that checks a guessable secret and so throttles by it (password).
        """

    def may_refresh(self, client: Client) -> bool:
        """Refresh tokens only for clients allowed them, while the server allows refreshing."""
        return client.allows("refresh_token") and "refresh_token" in self.config.grant_types

    def new_tokens(
        self, client: Client, *, subject: str, scopes: frozenset[str],
        subject_type: SubjectType = "user", refresh: bool = True,
        grant_scopes: frozenset[str] | None = None,
    ) -> NewTokens:
        """What to issue: the client's token lifetime, the server's refresh lifetime."""
        return NewTokens(
            client_id=client.client_id, subject=subject, subject_type=subject_type,
            scopes=scopes, lifetime=client.token_lifetime,
            refresh=refresh and self.may_refresh(client),
            refresh_lifetime=self.config.refresh_lifetime, grant_scopes=grant_scopes,
            client_generation=client.generation,
        )

    async def still_available(
        self, client: Client, scopes: Iterable[str], read: ClientRead
    ) -> frozenset[str]:
        """The part of an earlier grant that may still be issued: scopes disabled or taken
        from the client since then are dropped, never granted (RFC 6749 §3.3)."""
        wanted = list(scopes)
        known = await self.store.get_scopes(wanted, snapshot=read.scopes)
        available = frozenset(
            s for s in wanted
            if s in known and known[s].enabled and (not client.scopes or s in client.scopes)
        )
        if not available:
            raise InvalidScope("None of the granted scopes is available any more.")
        return available
