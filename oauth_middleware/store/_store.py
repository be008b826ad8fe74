"""``TokenStore``: the façade over the store's repositories, all sharing one Redis gateway."""

from __future__ import annotations

import time
from collections.abc import Collection, Iterable

from oauth_middleware.limits import (
    CODE_LIFETIME,
    GRANTS_PER_CLIENT,
    GRANTS_PER_USER,
    REMEMBERED_CONSENTS,
    check_grant_cap,
)
from oauth_middleware.models import (
    AccessToken,
    AuthorizationCode,
    Client,
    IssuedTokens,
    RefreshToken,
    RememberedConsent,
    Scope,
    UserGrant,
)
from oauth_middleware.security import digest
from oauth_middleware.store._authn import (
    NOTHING_AHEAD,
    Authn,
    ClientRead,
    Lookahead,
    ScopeHints,
    ScopeSnapshot,
)
from oauth_middleware.store._clients import Clients, SaveCondition
from oauth_middleware.store._connected import Connected
from oauth_middleware.store._consent import Consent
from oauth_middleware.store._context import Clock, Context, Progress, ttl_ms
from oauth_middleware.store._device import DeviceCodes
from oauth_middleware.store._documents import Documents
from oauth_middleware.store._dpop import DPoPRecords
from oauth_middleware.store._events import Cascade, EventStream, StreamEvent
from oauth_middleware.store._exchange import LINK_CHILD, ChainFull
from oauth_middleware.store._gateway import Gateway, monitoring
from oauth_middleware.store._gateway.cache import CACHE_SIZE
from oauth_middleware.store._gateway.connection import CONNECT_TIMEOUT, RETRIES, SOCKET_TIMEOUT
from oauth_middleware.store._gateway.durability import REPLICA_TIMEOUT
from oauth_middleware.store._gateway.health import RedisHealth
from oauth_middleware.store._gateway.monitoring import StoreStats
from oauth_middleware.store._grants import Grants
from oauth_middleware.store._keys import SigningKeyRecords
from oauth_middleware.store._minting import NewTokens
from oauth_middleware.store._pushed import Pushed
from oauth_middleware.store._remembered import Remembered
from oauth_middleware.store._revocation import Revocation
from oauth_middleware.store._scopes import Scopes
from oauth_middleware.store._throttle import Throttle
from oauth_middleware.store._tokens import Tokens
from oauth_middleware.store.keys import DEFAULT_PREFIX, Keys, check_prefix


class TokenStore:
    """All OAuth state: clients, scopes, codes, tokens, consent and throttling, in Redis.

    The methods below are the store's API for apps, the toolbox, the CLI and the admin;
    :attr:`consent` and :attr:`throttle` are the authorization server's bookkeeping.
    """

    def __init__(
        self, gateway: Gateway, *, prefix: str = DEFAULT_PREFIX, clock: Clock = time.time,
        max_grants_per_user: int = GRANTS_PER_USER, max_grants_per_client: int = GRANTS_PER_CLIENT,
    ) -> None:
        check_prefix(prefix)
        check_grant_cap(max_grants_per_user, "max_grants_per_user", GRANTS_PER_USER)
        check_grant_cap(max_grants_per_client, "max_grants_per_client", GRANTS_PER_CLIENT)
        self._gateway = gateway
        #: The key schema (:mod:`oauth_middleware.store.keys`).
        self.keys = Keys(prefix)
        #: Where the store reads the time (seconds since the epoch).
        self.clock = clock
        ctx = Context(gateway, self.keys, clock)
        hints = ScopeHints()
        self._tokens = Tokens(ctx)
        self._grants = Grants(ctx, max_grants_per_user=max_grants_per_user,
                              max_grants_per_client=max_grants_per_client)
        self._revocation = Revocation(ctx, self._tokens)
        self._clients = Clients(ctx)
        self._scopes = Scopes(ctx, hints)
        self._authn = Authn(ctx, hints)
        #: Pending consent transactions (``auth/``'s decision step).
        self.consent = Consent(ctx)
        self._remembered = Remembered(ctx, self._clients)
        self._connected = Connected(ctx, self._revocation, self._remembered)
        #: Device authorization requests (RFC 8628), waiting for a person's decision.
        self.device = DeviceCodes(ctx)
        #: Pushed authorization requests waiting for ``auth/`` (RFC 9126).
        self.pushed = Pushed(ctx)
        #: Brute-force counters of the token family and the password grant.
        self.throttle = Throttle(ctx)
        #: Clients known by a metadata document (CIMD): their fetch state, their cap.
        self.documents = Documents(ctx)
        #: Sealed signing keys, shared by every worker (:mod:`oauth_middleware.keyring`).
        self.signing = SigningKeyRecords(ctx)
        #: DPoP proofs seen and server nonces (RFC 9449 §11.1, §8).
        self.dpop = DPoPRecords(ctx)
        #: The audit trail's stream (:mod:`oauth_middleware.audit` writes and reads it).
        self.events = EventStream(ctx)

    @classmethod
    def from_url(
        cls,
        url: str | None,
        *,
        prefix: str = DEFAULT_PREFIX,
        clock: Clock = time.time,
        connect_timeout: float = CONNECT_TIMEOUT,
        socket_timeout: float = SOCKET_TIMEOUT,
        retries: int = RETRIES,
        local_cache: bool = False,
        cache_size: int = CACHE_SIZE,
        max_grants_per_user: int = GRANTS_PER_USER,
        max_grants_per_client: int = GRANTS_PER_CLIENT,
        min_replicas: int | None = None,
        replica_timeout: int = REPLICA_TIMEOUT,
    ) -> TokenStore:
        """Connect to ``url``, or embed when None.

        URL forms (``docs/guides/running-at-scale.md``): ``redis://`` and ``rediss://``
        (TLS), ``unix://``, ``redis+sentinel://`` and ``rediss+sentinel://``, with ACL
        users (``user:password@``) and TLS options (``ssl_ca_certs``, ``ssl_certfile``,
        ``ssl_keyfile``, ``ssl_cert_reqs``, ``ssl_check_hostname``) in every form;
        ``redis+cluster://`` and ``rediss+cluster://`` (a Redis Cluster, any seed nodes). The
        embedded store needs the ``embedded`` extra (fakeredis with Lua).

        ``local_cache=True`` keeps validated tokens, client records and the scope registry
        in process, invalidated by Redis itself (:mod:`._gateway.cache`);
        it needs a Redis server (6.0 or newer) and is ignored by the embedded store,
        which is in process already. On a cluster it tracks every primary and is emptied on
        any change of the slot map (:mod:`._gateway.cluster_cache`).

        ``max_grants_per_user`` bounds one user's live grants (``max_grants_per_client``,
        a client's own, from client credentials): one more revokes the one that expires
        first. Give every store that issues (server, admin, CLI) the same values.

        ``min_replicas``: how many replicas must acknowledge a revocation, a code
        redemption or a refresh rotation (``WAIT``) before it answers success; None
        (default) means 1 when the primary has a replica, 0 (no ``WAIT`` at all) when it
        has none. ``replica_timeout`` (milliseconds, below ``socket_timeout``) bounds the
        wait; past it the call raises :class:`StoreNotDurable` (503): done on the primary,
        not confirmed durable (``docs/guides/running-at-scale.md``, "Durability").
        """
        check_prefix(prefix)
        gateway = Gateway.connect(url, connect_timeout=connect_timeout,
                                  socket_timeout=socket_timeout, retries=retries,
                                  min_replicas=min_replicas, replica_timeout=replica_timeout)
        store = cls(gateway, prefix=prefix, clock=clock, max_grants_per_user=max_grants_per_user,
                    max_grants_per_client=max_grants_per_client)
        if local_cache:
            gateway.track(store.keys.tracked_prefixes, generation_key=store.keys.cache_generation,
                          size=cache_size)
        return store

    def __repr__(self) -> str:
        return f"{type(self).__name__}(prefix={self.keys.prefix!r}, embedded={self.embedded})"

    @property
    def embedded(self) -> bool:
        """True for the in-process fakeredis store (``from_url(None)``)."""
        return self._gateway.embedded

    async def aclose(self) -> None:
        """Close the connections (and the local cache's listener)."""
        await self._gateway.aclose()

    def stats(self) -> StoreStats:
        """Redis failures by kind and the local cache's hits, misses and invalidations since
        start, as plain counts (:mod:`oauth_middleware.metrics` reads them when scraped)."""
        return monitoring.stats(self._gateway)

    async def ready(self, check: str) -> bool:
        """Whether the readiness check ``check`` (one of ``"redis"``, ``"scripts"``,
        ``"cache"``) holds now; ``StoreUnavailable`` when Redis fails it. The caller bounds
        the time (:mod:`oauth_middleware.health`)."""
        return await monitoring.check(self._gateway, check)

    async def check(self, *, allow_eviction: bool = False) -> RedisHealth:
        """Refuse a Redis that would lose data silently (an ``allkeys-*`` eviction policy
        unless ``allow_eviction``; a cluster node behind a plain URL), warn about one
        that may (no persistence, ``volatile-*``): call it once at start, e.g. in the
        app's lifespan. The embedded store has nothing to check.
        """
        return await self._gateway.health(allow_eviction=allow_eviction)

    # --- tokens and grants (RFC 6749 §4-6, RFC 6750, RFC 7009) ------------------------------

    async def issue(self, spec: NewTokens) -> IssuedTokens:
        """Start a new grant and store its tokens (``ClientRemoved``: the client is gone)."""
        return await self._grants.issue(spec)

    async def issue_exchanged(self, spec: NewTokens, subject_token: str | None
                              ) -> IssuedTokens | None:
        """Issue an exchanged grant (RFC 8693); with ``spec.parent_grant`` it is linked under
        that grant while ``subject_token`` (of that grant) lives, so revoking it revokes this
        one. None: the subject token went meanwhile, nothing issued; ``ChainFull``: the
        parent has too many live exchanged grants, nothing issued (:mod:`._exchange`)."""
        if not spec.parent_grant or subject_token is None:
            return await self._grants.issue(spec)
        chains = self._revocation.chains
        issued, reply = await self._grants.issue_then(spec, chains.link(
            spec.parent_grant, digest(subject_token), ttl_ms(spec.lifetime)), LINK_CHILD)
        try:
            linked = chains.linked(reply, spec.parent_grant)
        except ChainFull:
            await self._revocation.revoke_grant(issued.token.grant_id)
            raise
        if not linked:
            await self._revocation.revoke_grant(issued.token.grant_id)
            return None
        return issued

    async def resolve(self, token: str) -> AccessToken | None:
        """The live record of an access token: one batched read, or the local cache."""
        return await self._tokens.resolve(token)

    async def lookup(self, token: str) -> AccessToken | RefreshToken | None:
        """A live access or refresh token record, whichever ``token`` is (RFC 7009 §2.1)."""
        return await self._tokens.lookup(token)

    async def list_tokens(self, *, client_id: str | None = None, user: str | None = None,
                          cursor: int = 0, count: int = 100) -> tuple[int, list[AccessToken]]:
        """One page of live access-token records, by client, user or all; cursor 0 = done."""
        return await self._tokens.list_tokens(client_id=client_id, user=user, cursor=cursor,
                                              count=count)

    async def create_code(self, code: AuthorizationCode, *, lifetime: int = CODE_LIFETIME,
                          client_generation: str | None = None,
                          event: StreamEvent | None = None) -> str:
        """Store a new authorization code (and ``event`` with it); returns its value."""
        return await self._grants.create_code(code, lifetime=lifetime,
                                              client_generation=client_generation, event=event)

    async def redeem_code(self, code: str, record: AuthorizationCode, spec: NewTokens
                          ) -> IssuedTokens | None:
        """Consume an unused code and issue its tokens; None when it was used or is gone."""
        return await self._grants.redeem_code(code, record, spec)

    async def rotate_refresh(self, token: str, record: RefreshToken, spec: NewTokens
                             ) -> IssuedTokens | None:
        """Retire ``token`` and issue the grant's next pair; None when it lost a race."""
        return await self._grants.rotate_refresh(token, record, spec)

    async def revoke_token(self, token: str, *, cascade: Cascade | None = None) -> bool:
        """Revoke an access token, or a refresh token with its whole grant (RFC 7009 §2.1)."""
        return await self._revocation.revoke_token(token, cascade)

    # ``cascade`` (an audit trail's ``cascaded``) records each grant a revocation takes with
    # it, exchanged from one it revoked (``_cascade``); ``event``'s does when it has one.

    async def revoke_access(self, grant_id: str, sha_or_fingerprint: str, *,
                            event: StreamEvent | None = None,
                            cascade: Cascade | None = None) -> bool:
        """Delete one access token of a grant, named by its digest or its fingerprint (and
        record ``event`` with it)."""
        return await self._revocation.revoke_access(grant_id, sha_or_fingerprint, event,
                                                    cascade)

    async def revoke_grant(self, grant_id: str, *, event: StreamEvent | None = None,
                           cascade: Cascade | None = None) -> int:
        """Delete every token and code of one grant; returns how many keys went (and
        records ``event`` with it)."""
        return await self._revocation.revoke_grant(grant_id, event, cascade)

    async def revoke_user(self, user: str, *, progress: Progress | None = None,
                          cascade: Cascade | None = None) -> int:
        """Every grant of ``user`` goes, and every consent remembered for them; returns keys
        deleted (grants' keys; the consents first, so nothing is granted again unasked)."""
        await self._remembered.forget(user)
        return await self._revocation.revoke_user(user, progress=progress, cascade=cascade)

    async def revoke_client_tokens(self, client_id: str, *, progress: Progress | None = None,
                                   only_leftovers: bool = False,
                                   cascade: Cascade | None = None) -> int:
        """Every grant issued to (or as) ``client_id`` goes; returns keys deleted.
        ``only_leftovers``: what an interrupted removal left, swept while no record exists."""
        if only_leftovers:
            return await self._revocation.revoke_client_leftovers(client_id)
        return await self._revocation.revoke_client_tokens(client_id, progress=progress,
                                                           cascade=cascade)

    async def client_indexed(self, client_id: str) -> bool:
        """Whether any grant of ``client_id`` is indexed (it may have no client record)."""
        return await self._revocation.client_indexed(client_id)

    # --- a person's own grants (the connected-apps page) ---------------------------------

    async def list_user_grants(self, user: str) -> list[UserGrant]:
        """``user``'s live grants as a person sees them (a client acting for itself is never
        a user's): latest expiry first, fingerprints only."""
        return await self._connected.grants(user)

    async def revoke_user_grant(self, user: str, grant_id: str, *,
                                cascade: Cascade | None = None) -> bool:
        """A person revokes one grant of theirs; False, with nothing changed, when it is
        anyone else's or gone. Whose it is, the grant's own records decide, in the one
        script that revokes it."""
        return await self._connected.revoke(user, grant_id, cascade)

    async def revoke_user_client(self, user: str, client_id: str, *,
                                 cascade: Cascade | None = None) -> tuple[int, int]:
        """A person disconnects a client: the consent remembered for it, then every grant of
        theirs with it. Returns (grants revoked, consents forgotten); (0, 0): nothing was."""
        return await self._connected.revoke_client(user, client_id, cascade)

    # --- remembered consent (OpenID Connect Core 1.0 §3.1.2.4) ----------------------------

    async def remember_consent(
        self, user_id: str, client_id: str, *, client_generation: str,
        approved: Iterable[str], declined: Iterable[str] = (), audience: Iterable[str] = (),
        lifetime: int, cap: int = REMEMBERED_CONSENTS,
    ) -> int:
        """Remember an approval for ``lifetime`` seconds (merged: ``approved`` scopes and the
        ``audience`` added, ``declined`` removed) in one script, keeping ``cap`` clients per
        user; returns how many scopes are remembered now."""
        return await self._remembered.remember(
            user_id, client_id, client_generation=client_generation, approved=approved,
            declined=declined, audience=audience, lifetime=lifetime, cap=cap)

    async def remembered_consent(self, user_id: str, client_id: str) -> frozenset[str]:
        """The scopes ``user_id`` approved for the client as registered now (empty: none)."""
        return await self._remembered.scopes(user_id, client_id)

    async def forget_consent(self, user_id: str, client_id: str | None = None) -> int:
        """Forget ``user_id``'s consent for one client, or for all; returns how many went."""
        return await self._remembered.forget(user_id, client_id)

    async def forget_client_consents(self, client_id: str) -> int:
        """Forget every user's consent for ``client_id`` (walks every user's: management only)."""
        return await self._remembered.forget_client(client_id)

    async def list_remembered_consents(
        self, *, user: str | None = None, client_id: str | None = None, cursor: int = 0,
        count: int = 100,
    ) -> tuple[int, list[RememberedConsent]]:
        """One page of live remembered consents, by user, client, or all; cursor 0 = done."""
        return await self._remembered.page(user=user, client_id=client_id, cursor=cursor,
                                           count=count)

    # --- clients and scopes (RFC 6749 §2, §3.3) -------------------------------------------

    async def save_client(self, client: Client, *, only: SaveCondition = "any",
                          over: Client | None = None, fields: Collection[str] | None = None
                          ) -> bool:
        """Create or replace a client; ``only``: "new" or "same" registration, the latter only
        while ``fields`` of ``over`` (the record read) are as stored (False: refused)."""
        return await self._clients.save_client(client, only=only, over=over, fields=fields)

    async def register_dynamic_client(self, client: Client, *, cap: int,
                                      expire_unused_after: int | None = None) -> int:
        """Create a client registered through RFC 7591 while fewer than ``cap`` exist:
        1 written, 0 its id is taken, -1 the cap is reached (decided in one script).
        With ``expire_unused_after`` (seconds) its record expires unless used meanwhile
        (:meth:`touch_dynamic_client`)."""
        return await self._clients.register_dynamic(
            client, cap=cap, expire_unused_after=expire_unused_after)

    async def touch_dynamic_client(self, client_id: str, *,
                                   expire_unused_after: int | None = None) -> bool:
        """A dynamic client got a code or a token: note when, and restart its expiry."""
        return await self._clients.touch(client_id, expire_unused_after=expire_unused_after)

    async def dynamic_clients_last_used(self, client_ids: list[str]) -> dict[str, float]:
        """When these dynamic clients last registered or got a code or a token."""
        return await self._clients.last_used(client_ids)

    async def count_dynamic_clients(self) -> int:
        """How many clients registered through RFC 7591 exist."""
        return await self._clients.count_dynamic()

    async def get_client(self, client_id: str) -> Client | None:
        """The client's record; None when no client has that id."""
        return await self._clients.get_client(client_id)

    async def delete_client(self, client_id: str) -> bool:
        """Remove a client record (its tokens: :meth:`revoke_client_tokens`)."""
        return await self._clients.delete_client(client_id)

    async def list_clients(self, cursor: int = 0, count: int = 100, *,
                           search: str | None = None) -> tuple[int, list[Client]]:
        """One page of clients sorted by id, optionally searched; cursor 0 = done."""
        return await self._clients.list_clients(cursor, count, search=search)

    async def save_scope(self, scope: Scope) -> None:
        """Register or replace a scope (its title and status)."""
        await self._scopes.save_scope(scope)

    async def create_scope(self, scope: Scope) -> bool:
        """Register a scope unless one with its identifier exists."""
        return await self._scopes.create_scope(scope)

    async def get_scopes(self, identifiers: Iterable[str], *,
                         snapshot: ScopeSnapshot | None = None) -> dict[str, Scope]:
        """The registered scopes among ``identifiers`` (``snapshot``: read by this request)."""
        return await self._scopes.get_scopes(identifiers, snapshot=snapshot)

    async def list_scopes(self) -> list[Scope]:
        """Every registered scope, by identifier."""
        return await self._scopes.list_scopes()

    async def delete_scope(self, identifier: str) -> bool:
        """Unregister a scope; False when it was not registered."""
        return await self._scopes.delete_scope(identifier)

    async def read_for(self, client_id: str | None, ahead: Lookahead = NOTHING_AHEAD
                       ) -> ClientRead:
        """A token-family request's reads in one round trip: its client and ``ahead``."""
        return await self._authn.read_for(client_id, ahead)
