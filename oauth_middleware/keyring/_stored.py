"""The default key ring: signing keys shared by every worker through the store (RFC 7517).

Keys are made on first use, one per algorithm, and the store's script decides which
worker's key becomes current (the others drop theirs), so workers starting together
end with one key per algorithm. Private keys reach the store sealed (:mod:`._sealing`).

Each worker keeps what it read for at most ``refresh_every`` seconds: a rotation by
another worker or the CLI is signed with everywhere within that bound, which is why a
rotated-out key stays published that much longer than the tokens it signed can live.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from oauth_middleware.keyring._jose import ALGORITHMS, generate, private_der, public_jwk
from oauth_middleware.keyring._sealing import KeyRingError, Sealer
from oauth_middleware.settings_checks import ConfigurationError
from oauth_middleware.store import MAX_SIGNING_KEYS, KeyRecords, SealedKey, TokenStore

if TYPE_CHECKING:
    from joserfc.jwk import ECKey, RSAKey

logger = logging.getLogger("oauth_middleware.keyring")

#: Longest lifetime of a token signed with a ring's key by default (a day): what a
#: rotated-out key stays published for, and the cap on a JWT access token's lifetime.
MAX_TOKEN_LIFETIME = 24 * 3600
#: Seconds a worker signs with what it last read before reading the keys again.
REFRESH_EVERY = 30.0
#: Added to a rotated-out key's publication: clocks of hosts differ by this much at most.
LEEWAY = 60


@dataclass(frozen=True, slots=True)
class KeyInfo:
    """One key as ``keys list`` shows it (no key material)."""

    kid: str
    alg: str
    state: str  # "current", "published", "expired" or "unreadable"
    created_at: float
    retire_after: float | None


class StoreKeys:
    """A :class:`~oauth_middleware.signing.SigningKeys` ring kept in ``store``, sealed with a
    key derived from ``secret_key`` (the server's: the same on every worker)."""

    algorithms: tuple[str, ...] = ALGORITHMS

    def __init__(self, store: TokenStore, secret_key: bytes | None, *,
                 max_token_lifetime: int = MAX_TOKEN_LIFETIME,
                 refresh_every: float = REFRESH_EVERY) -> None:
        if not 0 < max_token_lifetime <= 366 * 24 * 3600:
            raise ValueError("max_token_lifetime must be 1 second to a year")
        if not 0 < refresh_every <= 3600:
            raise ValueError("refresh_every must be above 0 and at most 3600 seconds")
        self.store = store
        self._secret_key = secret_key
        self._sealer: Sealer | None = None
        #: Longest lifetime of a token signed here (see :data:`MAX_TOKEN_LIFETIME`).
        self.max_token_lifetime = max_token_lifetime
        self.refresh_every = refresh_every
        self._records: KeyRecords | None = None
        self._read_at = 0.0
        self._opened: dict[str, RSAKey | ECKey] = {}
        self._creating: dict[str, asyncio.Lock] = {}

    def __repr__(self) -> str:
        return f"StoreKeys(store={self.store!r})"

    @property
    def sealer(self) -> Sealer:
        """Seals and opens keys; only a ring given the server's ``secret_key`` has one (a ring
        without may list and retire keys, nothing else)."""
        if self._sealer is None:
            if not self._secret_key:
                raise ConfigurationError("signing keys are sealed with the server's secret_key: "
                                         "give it (e.g. OAUTH_SECRET_KEY)")
            self._sealer = Sealer(self._secret_key)
        return self._sealer

    async def signing_key(self, alg: str) -> RSAKey | ECKey:
        """The current key for ``alg``, made (once, among all workers) when there is none."""
        if alg not in self.algorithms:
            raise LookupError(f"no signing key for {alg!r}: one of {', '.join(self.algorithms)}")
        records = await self._fresh()
        kid = records.current.get(alg)
        if kid is None:
            kid = await self._first(alg)
            records = await self._fresh(force=True)
        record = records.keys.get(kid)
        if record is None or record.alg != alg:  # altered in the store: never sign with it
            raise KeyRingError(f"the current {alg} key {kid!r} has no readable {alg} record")
        return self._open(record)

    async def public_jwks(self) -> dict[str, Any]:
        """Every current key (made now for an algorithm that has none yet), and rotated-out
        keys until their publication ends. Read from the store each time (no worker's
        cache): a retired key leaves the set at once, and relying parties cache it anyway."""
        records = await self._fresh(force=True)
        if missing := [alg for alg in self.algorithms if alg not in records.current]:
            for alg in missing:
                await self._first(alg)
            records = await self._fresh(force=True)
        current = set(records.current.values())
        jwks = []
        for record in records.published(self.store.clock()):
            try:
                jwks.append(public_jwk(self._open(record), record.alg))
            except KeyRingError as exc:
                if record.kid in current:  # nothing can be signed: the caller must know
                    raise
                # a rotated-out key sealed under an earlier secret_key: it signs nothing
                # more, and leaving it out beats publishing nothing (``keys retire`` it)
                logger.error("left out of the published keys: %s", exc)
        return {"keys": jwks}

    async def describe(self) -> list[KeyInfo]:
        """Every key record, current first (``keys list``)."""
        records = await self._fresh(force=True)
        now, current = self.store.clock(), set(records.current.values())
        infos = [KeyInfo(r.kid, r.alg, _state(r.kid, current, records.retire, now),
                         r.created_at, records.retire.get(r.kid))
                 for r in records.keys.values()]
        infos += [KeyInfo(kid, "?", "unreadable", 0.0, None) for kid in records.unreadable]
        return sorted(infos, key=lambda i: (i.state != "current", i.alg, -i.created_at))

    async def rotate(self, algorithms: Iterable[str] | None = None) -> list[KeyInfo]:
        """A new current key per algorithm; each replaced key stays published until every
        token it signed has expired (``max_token_lifetime`` plus ``refresh_every``)."""
        made = []
        for alg in algorithms or self.algorithms:
            if alg not in self.algorithms:
                raise LookupError(f"no signing key for {alg!r}: one of "
                                  f"{', '.join(self.algorithms)}")
            record = await self._new_record(alg)
            now = self.store.clock()
            retire_after = now + self.max_token_lifetime + self.refresh_every + LEEWAY
            status, _ = await self.store.signing.rotate(
                record, retire_after=retire_after, now=now, cap=MAX_SIGNING_KEYS)
            if status == -1:
                raise KeyRingError(f"{MAX_SIGNING_KEYS} signing keys are kept already: retire "
                                   "some first (oauth-middleware keys retire KID)")
            if status == 0:
                raise KeyRingError(f"a key with kid {record.kid!r} exists already")
            made.append(KeyInfo(record.kid, alg, "current", record.created_at, None))
        await self._fresh(force=True)
        return made

    async def retire(self, kid: str) -> bool:
        """Stop publishing ``kid`` now (False: no such key); the current key is refused."""
        status = await self.store.signing.retire(kid)
        if status == -1:
            raise KeyRingError(f"{kid!r} is a current key: rotate first, then retire it")
        self._opened.pop(kid, None)
        await self._fresh(force=True)
        return status == 1

    async def _fresh(self, *, force: bool = False) -> KeyRecords:
        now = self.store.clock()
        if force or self._records is None or now - self._read_at >= self.refresh_every:
            self._records, self._read_at = await self.store.signing.read(), now
            for kid in set(self._opened) - set(self._records.keys):
                del self._opened[kid]
        return self._records

    async def _first(self, alg: str) -> str:
        """Make the first key of ``alg`` (once per process; the store picks one worker's)."""
        lock = self._creating.setdefault(alg, asyncio.Lock())
        async with lock:
            records = await self._fresh(force=True)
            if alg in records.current:
                return records.current[alg]
            record = await self._new_record(alg)
            added, kid = await self.store.signing.add_first(record)
            if not added:
                raise KeyRingError(f"a key with kid {kid!r} exists already")
            if kid == record.kid:
                logger.info("made the first %s signing key %s", alg, kid)
            return kid

    async def _new_record(self, alg: str) -> SealedKey:
        key = await asyncio.to_thread(generate, alg)  # RSA: tens of ms, off the loop
        sealed = self.sealer.seal(key.kid or "", alg, private_der(key))
        return SealedKey(kid=key.kid or "", alg=alg, created_at=self.store.clock(),
                         sealed=sealed)

    def _open(self, record: SealedKey) -> RSAKey | ECKey:
        key = self._opened.get(record.kid)
        if key is None:
            from joserfc.jwk import ECKey, RSAKey

            der = self.sealer.open(record.kid, record.alg, record.sealed)
            kind = RSAKey if record.alg == "RS256" else ECKey
            key = kind.import_key(der, parameters={"kid": record.kid})
            self._opened[record.kid] = key
        return key


def _state(kid: str, current: set[str], retire: dict[str, float], now: float) -> str:
    if kid in current:
        return "current"
    return "published" if retire.get(kid, 0.0) > now else "expired"
