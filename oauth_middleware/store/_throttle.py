"""Brute-force counters: failures per subject and caller, attempts in flight (RFC 6749
§2.3.1, §10.10; RFC 9700 §4.16).

They expire through Redis TTL; nothing ever cleans them up. They are never cached:
unauthenticated requests write them, and the local cache neither tracks nor keeps them.
"""

from __future__ import annotations

import math

from oauth_middleware.store import _throttle_scripts as scripts
from oauth_middleware.store._context import Context, ttl_ms
from oauth_middleware.store._gateway import evalsha


def _seconds_between(now_ms: int, ends_ms: int) -> int:
    return max(1, math.ceil((ends_ms - now_ms) / 1000))


def window_state(count: bytes | str | int | None, ends: bytes | str | int | None, now_ms: int
                 ) -> tuple[int, int]:
    """A stored failure counter as (failures in the window, seconds left); (0, 0) once over."""
    if count is None or ends is None or int(ends) <= now_ms:
        return 0, 0
    return int(count), _seconds_between(now_ms, int(ends))


class Throttle:
    """Failure counters and attempt reservations, each subject's under its hash tag."""

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx
        self._gateway = ctx.gateway
        self._keys = ctx.keys

    async def count_failures(
        self, bucket: str, key: str, address: str, *, window: int
    ) -> tuple[tuple[int, int], tuple[int, int]]:
        """Count one failure of ``key`` from ``address`` in both its counters, in one script:
        the states after it of the (key, address) counter and of the key's overall one.

        A window starts at the first failure, is never extended by later ones, and ends
        by the store's clock (the key's TTL only tidies up after it)."""
        names = [self._keys.throttle(bucket, key, address), self._keys.throttle(bucket, key)]
        pair, overall = await self._count(names, window)
        return pair, overall

    async def _count(self, names: list[str], window: int) -> list[tuple[int, int]]:
        # Counters are never cached (the local cache neither tracks nor keeps them).
        args = [self._ctx.now_ms(), ttl_ms(window)]
        result = await self._gateway.one(evalsha(scripts.COUNT_FAILURE, names, args),
                                         scripts.COUNT_FAILURE)
        values = [int(v) for v in result]
        return [(count, self._seconds_left(ends))
                for count, ends in zip(values[::2], values[1::2], strict=True)]

    async def failures_from(
        self, bucket: str, key: str, address: str
    ) -> tuple[tuple[int, int], tuple[int, int]]:
        """Failures in the current window and seconds until it ends ((0, 0) if none) of the
        (key, address) counter and of the key's overall one, read
        in one round trip (two reads: the overall count may have grown between them,
        which only ever makes the judgement stricter)."""
        names = (self._keys.throttle(bucket, key, address), self._keys.throttle(bucket, key))
        replies = await self._gateway.run([("HMGET", name, "count", "ends") for name in names])
        now_ms = self._ctx.now_ms()
        pair, overall = (window_state(count, ends, now_ms) for count, ends in replies)
        return pair, overall

    async def reserve_attempt(
        self, bucket: str, key: str, address: str, *, attempt: str, hold: int,
        allowance: int, threshold: int,
    ) -> tuple[bool, tuple[int, int]]:
        """Reserve a place for one attempt of ``key`` from ``address`` before its secret is
        checked, in one script (``_throttle_scripts.RESERVE_ATTEMPT``): refused while the address's
        failures and attempts in flight reach ``allowance`` (1 once ``key``'s failures from
        every address reach ``threshold``). A place not ended stops counting after ``hold``
        seconds. Returns (reserved, the (key, address) counter's state)."""
        names = self._attempt_keys(bucket, key, address)
        args = [self._ctx.now_ms(), ttl_ms(hold), attempt, allowance, threshold]
        result = await self._gateway.one(evalsha(scripts.RESERVE_ATTEMPT, names, args),
                                         scripts.RESERVE_ATTEMPT)
        reserved, count, ends = (int(v) for v in result)
        return reserved == 1, window_state(count, ends, self._ctx.now_ms())

    async def end_attempt(
        self, bucket: str, key: str, address: str, *, attempt: str, failed_window: int | None,
    ) -> tuple[tuple[int, int], tuple[int, int]]:
        """Free ``attempt``'s place and, when it failed (``failed_window``: the window to count
        it in), count the failure in both counters, in one script. Returns the states after
        it of the (key, address) counter and of the key's overall one."""
        names = self._attempt_keys(bucket, key, address)
        args = [attempt, self._ctx.now_ms(), ttl_ms(failed_window) if failed_window else 0]
        result = await self._gateway.one(evalsha(scripts.END_ATTEMPT, names, args),
                                         scripts.END_ATTEMPT)
        now_ms = self._ctx.now_ms()
        pair, overall = (window_state(count, ends, now_ms)
                         for count, ends in zip(result[::2], result[1::2], strict=True))
        return pair, overall

    def _attempt_keys(self, bucket: str, key: str, address: str) -> list[str]:
        return [self._keys.throttle(bucket, key, address), self._keys.throttle(bucket, key),
                self._keys.attempts(bucket, key, address)]

    def _seconds_left(self, ends_ms: int) -> int:
        return _seconds_between(self._ctx.now_ms(), ends_ms)
