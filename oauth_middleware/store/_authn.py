"""What a token-family request reads, in one round trip (RFC 6749 §2.3.1, §3.2.1, §3.3).

Every request of the token family authenticates its client (the client record;
brute-force counters are read apart, see ``server/throttle.py``) and then reads what its grant
needs: the code or refresh token it redeems, the token it revokes or
introspects, the scopes it may grant. All of that is known from the request's
parameters before the client is authenticated, so it is read in the same
round trip (:class:`Lookahead`), and nothing is decided on it before the
client has proven who it is.

The scopes a request will need are not always in its parameters (a
client_credentials request without ``scope`` gets the client's default list, a
code carries the scopes granted earlier). The store remembers, per client, the
scope identifiers its last request needed and reads those along; a request
that needs others reads them in a second round trip (:class:`ScopeSnapshot`).
A guess can cost a round trip, never a wrong answer: every scope used was read
during this request.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from oauth_middleware.limits import SCOPE_HINTS
from oauth_middleware.models import AccessToken, AuthorizationCode, Client, RefreshToken, Scope
from oauth_middleware.security import digest, grant_id_of
from oauth_middleware.store._codec import load, load_memo
from oauth_middleware.store._context import Context
from oauth_middleware.store._gateway import Command, Step, pairs
from oauth_middleware.store._generations import live_token, presented_refresh, refresh_keys


@dataclass(frozen=True, slots=True)
class Lookahead:
    """What a request will read once its client is authenticated, known from its parameters."""

    scopes: tuple[str, ...] = ()
    #: Whether the request grants scopes (then the client's usual ones are read along too).
    grants: bool = False
    #: A raw authorization code to read (the grant checks it: RFC 6749 §4.1.3).
    code: str | None = None
    #: A raw refresh token to read (RFC 6749 §6), with its grant's refresh record.
    refresh: str | None = None
    #: A raw token of either kind to read (RFC 7009 §2.1, RFC 7662 §2.1).
    token: str | None = None


#: A request that reads nothing beyond its client.
NOTHING_AHEAD = Lookahead()


@dataclass(frozen=True, slots=True)
class ScopeSnapshot:
    """Registered scopes read during this request, as stored (JSON by identifier).

    ``asked`` are the identifiers that were read (absent from ``raw``: not
    registered); None when the whole registry was read (the local cache keeps it).
    """

    client_id: str | None = None
    asked: frozenset[str] | None = frozenset()
    raw: Mapping[str, bytes] = field(default_factory=dict)

    def covers(self, identifiers: Iterable[str]) -> bool:
        return self.asked is None or self.asked.issuperset(identifiers)

    def pick(self, identifiers: Iterable[str]) -> dict[str, Scope]:
        raw = self.raw
        return {sid: load_memo(Scope, raw[sid]) for sid in identifiers if sid in raw}


@dataclass(frozen=True, slots=True)
class ClientRead:
    """The answers to one request's read, decoded; expired records are None."""

    client: Client | None
    scopes: ScopeSnapshot
    code: AuthorizationCode | None = None
    #: ``rotated`` when the token is an earlier generation of its grant (a replay).
    refresh: RefreshToken | None = None
    #: A live access token, or a refresh token as in ``refresh`` (rotated ones included).
    token: AccessToken | RefreshToken | None = None


class ScopeHints:
    """Per client id, the scope identifiers its last token-family request needed; bounded
    (:data:`~oauth_middleware.limits.SCOPE_HINTS` clients, emptied when full)."""

    __slots__ = ("_hints",)

    def __init__(self) -> None:
        self._hints: dict[str, frozenset[str]] = {}

    def note(self, client_id: str, identifiers: frozenset[str]) -> None:
        """Remember which scopes ``client_id``'s request needed, to read them along next time."""
        hints = self._hints
        if len(hints) >= SCOPE_HINTS and client_id not in hints:
            hints.clear()
        hints[client_id] = identifiers

    def of(self, client_id: str | None) -> frozenset[str]:
        return self._hints.get(client_id, frozenset()) if client_id else frozenset()


class Authn:
    """The token family's one read per request (:meth:`read_for`)."""

    def __init__(self, ctx: Context, hints: ScopeHints) -> None:
        self._ctx = ctx
        self._keys = ctx.keys
        self._hints = hints

    async def read_for(self, client_id: str | None, ahead: Lookahead = NOTHING_AHEAD
                       ) -> ClientRead:
        """One round trip at most: the client and what ``ahead`` names.

        With the local cache the client and the whole scope registry come from it
        while Redis has not invalidated them (``Gateway.read_through``).
        """
        steps: list[Step] = []
        if client_id:
            steps.append((self._keys.client(client_id), ("GET", self._keys.client(client_id)),
                          None))
        scopes = self._scope_step(client_id, ahead, steps)
        records = self._record_commands(ahead)
        steps += [(None, command, None) for command in records.values()]
        values = await self._ctx.gateway.read_through(steps)
        rest = iter(values)
        client = load_memo(Client, raw) if client_id and (raw := next(rest)) else None
        snapshot = ScopeSnapshot(client_id, scopes, next(rest) if scopes is None or scopes else {})
        fetched = dict(zip(records, rest, strict=True))
        now = self._ctx.clock()
        refresh = token = None
        if (pair := fetched.get("refresh")) and ahead.refresh is not None:
            refresh = presented_refresh(ahead.refresh, pair[0], pair[1], now)
        if (three := fetched.get("token")) and ahead.token is not None:
            at, current, legacy = three
            token = live_token(at, presented_refresh(ahead.token, current, legacy, now), now)
        return ClientRead(client, snapshot, code=_live_code(fetched.get("code"), now),
                          refresh=refresh, token=token)

    def _scope_step(self, client_id: str | None, ahead: Lookahead, steps: list[Step]
                    ) -> frozenset[str] | None:
        """Add the scope read to ``steps`` for a request that grants scopes: the whole registry
        when the local cache keeps it (returns None), else the requested and hinted
        identifiers (returns them; an empty set: nothing is read)."""
        key = self._keys.scopes
        if not (ahead.grants or ahead.scopes):
            return frozenset()
        if self._ctx.gateway.cache is not None:
            steps.append((key, ("HGETALL", key), pairs))
            return None
        hint = self._hints.of(client_id)
        scopes = tuple(dict.fromkeys((*ahead.scopes, *sorted(hint))))
        if not scopes:
            return frozenset()
        steps.append((None, ("HMGET", key, *scopes), lambda raws: {
            s: raw for s, raw in zip(scopes, raws, strict=True) if raw}))
        return frozenset(scopes)

    def _record_commands(self, ahead: Lookahead) -> dict[str, Command]:
        """A command per record ``ahead`` names, by :class:`ClientRead` field."""
        found: dict[str, Command] = {}
        if ahead.code is not None and (grant_id := grant_id_of(ahead.code)) is not None:
            found["code"] = ("GET", self._keys.code(grant_id, digest(ahead.code)))
        if ahead.refresh is not None and (grant_id := grant_id_of(ahead.refresh)) is not None:
            found["refresh"] = ("MGET", *refresh_keys(self._keys, grant_id, ahead.refresh))
        if ahead.token is not None and (grant_id := grant_id_of(ahead.token)) is not None:
            found["token"] = ("MGET", self._keys.access(grant_id, digest(ahead.token)),
                              *refresh_keys(self._keys, grant_id, ahead.token))
        return found


def _live_code(raw: bytes | None, now: float) -> AuthorizationCode | None:
    code = None if raw is None else load(AuthorizationCode, raw)
    return None if code is None or code.expires_at <= now else code

