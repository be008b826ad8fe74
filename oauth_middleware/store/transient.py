"""Short-lived state: pending consent decisions and brute-force counters (RFC 6749 §2.3.1, §10.12).

Both expire through Redis TTL; nothing ever cleans them up.
"""

from __future__ import annotations

import math

from oauth_middleware.models import PendingAuthorization
from oauth_middleware.security import digest, new_secret
from oauth_middleware.store import scripts
from oauth_middleware.store.base import StoreBase
from oauth_middleware.store.codec import dump, load
from oauth_middleware.store.connection import GUARD

#: Seconds a user has to decide on a consent page.
PENDING_LIFETIME = 600
#: Consent transactions one user may have waiting; storing one more drops their oldest,
#: so a loop of ``GET auth/`` cannot fill Redis (``AuthorizationServer(max_pending_consents=)``).
MAX_PENDING = 20
#: Seconds a taken consent transaction stays as a tombstone (see ``scripts.TAKE_PENDING``).
TAKEN_LIFETIME = 60
_TAKEN = b"taken:"


def _seconds_between(now_ms: int, ends_ms: int) -> int:
    return max(1, math.ceil((ends_ms - now_ms) / 1000))


def _taken(raw: bytes | str) -> bool:
    return (raw if isinstance(raw, bytes) else raw.encode()).startswith(_TAKEN)


def window_state(count: bytes | str | int | None, ends: bytes | str | int | None, now_ms: int
                 ) -> tuple[int, int]:
    """A stored failure counter as (failures in the window, seconds left); (0, 0) once over."""
    if count is None or ends is None or int(ends) <= now_ms:
        return 0, 0
    return int(count), _seconds_between(now_ms, int(ends))


class TransientMixin(StoreBase):
    async def put_pending(
        self, pending: PendingAuthorization, *, lifetime: int = PENDING_LIFETIME,
        cap: int = MAX_PENDING,
    ) -> str:
        """Store a pending authorization; returns its transaction id (stored only as a digest).

        One script stores it and, past ``cap`` live transactions of the same user,
        drops the oldest: concurrent requests cannot overshoot the cap.
        """
        txn_id, user = new_secret(), pending.user
        sha = digest(txn_id)
        names = [self.keys.pending(user, sha), self.keys.pending_index(user)]
        args = [dump(pending), self.ttl_ms(lifetime), sha, cap, self.keys.pending_prefix(user),
                self.now_ms()]
        await self.run([self.evalsha(scripts.PUT_PENDING, names, args)], scripts.PUT_PENDING)
        return txn_id

    async def get_pending(self, txn_id: str, *, user: str) -> PendingAuthorization | None:
        """``user``'s pending authorization; None once taken, dropped, expired or unknown."""
        with GUARD:
            raw = await self.redis.get(self.keys.pending(user, digest(txn_id)))
        if raw is None or _taken(raw):
            return None
        return load(PendingAuthorization, raw)

    async def take_pending(self, txn_id: str, *, user: str) -> PendingAuthorization | None:
        """Fetch and retire ``user``'s transaction in one atomic step: a decision can be
        made once, and a resend of the same attempt (a lost reply) still gets its record.
        Another user's transaction id finds nothing: keys live under their user."""
        sha = digest(txn_id)
        names = [self.keys.pending(user, sha), self.keys.pending_index(user)]
        args = [new_secret(), self.ttl_ms(TAKEN_LIFETIME), sha]
        (raw,) = await self.run([self.evalsha(scripts.TAKE_PENDING, names, args)],
                                scripts.TAKE_PENDING)
        return None if raw is None else load(PendingAuthorization, raw)

    async def count_failure(
        self, bucket: str, key: str, *, window: int, address: str | None = None
    ) -> tuple[int, int]:
        """Count one failure of ``key`` (from ``address`` only, when given) in ``bucket``;
        returns (failures in window, seconds left).

        The window starts at the first failure, is never extended by later ones,
        and ends by the store's clock (the key's TTL only tidies up after it).
        """
        (state,) = await self._count([self.keys.throttle(bucket, key, address)], window)
        return state

    async def count_failures(
        self, bucket: str, key: str, address: str, *, window: int
    ) -> tuple[tuple[int, int], tuple[int, int]]:
        """Count one failure of ``key`` from ``address`` in both its counters, in one script:
        the states after it of the (key, address) counter and of the key's overall one."""
        names = [self.keys.throttle(bucket, key, address), self.keys.throttle(bucket, key)]
        pair, overall = await self._count(names, window)
        return pair, overall

    async def _count(self, names: list[str], window: int) -> list[tuple[int, int]]:
        # Counters are never cached (the local cache neither tracks nor keeps them).
        args = [self.now_ms(), self.ttl_ms(window)]
        (result,) = await self.run([self.evalsha(scripts.COUNT_FAILURE, names, args)],
                                   scripts.COUNT_FAILURE)
        values = [int(v) for v in result]
        return [(count, self._seconds_left(ends))
                for count, ends in zip(values[::2], values[1::2], strict=True)]

    async def failures(self, bucket: str, key: str, address: str | None = None
                       ) -> tuple[int, int]:
        """Failures of ``key`` (from ``address`` only, when given) in the current window and
        seconds until it ends (0, 0 if none)."""
        with GUARD:
            count, ends = await self.redis.hmget(self.keys.throttle(bucket, key, address),
                                                 "count", "ends")
        return window_state(count, ends, self.now_ms())

    async def failures_from(
        self, bucket: str, key: str, address: str
    ) -> tuple[tuple[int, int], tuple[int, int]]:
        """:meth:`failures` of the (key, address) counter and of the key's overall one, read
        in one round trip (two reads: the overall count may have grown between them,
        which only ever makes the judgement stricter)."""
        names = (self.keys.throttle(bucket, key, address), self.keys.throttle(bucket, key))
        replies = await self.run([("HMGET", name, "count", "ends") for name in names])
        now_ms = self.now_ms()
        pair, overall = (window_state(count, ends, now_ms) for count, ends in replies)
        return pair, overall

    async def reserve_attempt(
        self, bucket: str, key: str, address: str, *, attempt: str, hold: int,
        allowance: int, threshold: int,
    ) -> tuple[bool, tuple[int, int]]:
        """Reserve a place for one attempt of ``key`` from ``address`` before its secret is
        checked, in one script (``scripts.RESERVE_ATTEMPT``): refused while the address's
        failures and attempts in flight reach ``allowance`` (1 once ``key``'s failures from
        every address reach ``threshold``). A place not ended stops counting after ``hold``
        seconds. Returns (reserved, the (key, address) counter's state)."""
        names = self._attempt_keys(bucket, key, address)
        args = [self.now_ms(), self.ttl_ms(hold), attempt, allowance, threshold]
        (result,) = await self.run([self.evalsha(scripts.RESERVE_ATTEMPT, names, args)],
                                   scripts.RESERVE_ATTEMPT)
        reserved, count, ends = (int(v) for v in result)
        return reserved == 1, window_state(count, ends, self.now_ms())

    async def end_attempt(
        self, bucket: str, key: str, address: str, *, attempt: str, failed_window: int | None,
    ) -> tuple[tuple[int, int], tuple[int, int]]:
        """Free ``attempt``'s place and, when it failed (``failed_window``: the window to count
        it in), count the failure in both counters, in one script. Returns the states after
        it of the (key, address) counter and of the key's overall one."""
        names = self._attempt_keys(bucket, key, address)
        args = [attempt, self.now_ms(), self.ttl_ms(failed_window) if failed_window else 0]
        (result,) = await self.run([self.evalsha(scripts.END_ATTEMPT, names, args)],
                                   scripts.END_ATTEMPT)
        now_ms = self.now_ms()
        pair, overall = (window_state(count, ends, now_ms)
                         for count, ends in zip(result[::2], result[1::2], strict=True))
        return pair, overall

    def _attempt_keys(self, bucket: str, key: str, address: str) -> list[str]:
        return [self.keys.throttle(bucket, key, address), self.keys.throttle(bucket, key),
                self.keys.attempts(bucket, key, address)]

    def _seconds_left(self, ends_ms: int) -> int:
        return _seconds_between(self.now_ms(), ends_ms)

    async def clear_failures(self, bucket: str, key: str, address: str | None = None) -> None:
        """Forget the failures counted for ``key`` (and ``address``) in ``bucket``."""
        await self.run([("DEL", self.keys.throttle(bucket, key, address))])
