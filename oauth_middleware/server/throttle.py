"""Brute-force throttling for the token family (RFC 6749 §2.3.1, §10.10).

RFC 6749 §2.3.1 says the server MUST protect endpoints that check passwords or
secrets against brute force. Failures are counted in Redis per bucket and key
(failed client authentications per client id, failed password grants per
username, ``invalid_grant`` answers per client id). Once a key reaches its
threshold, every further attempt within the window is answered 429
``slow_down`` with ``Retry-After`` — even one that would succeed, or guessing
could go on. The window starts at the first failure and is never extended; when
it ends, the count starts again from zero.
"""

from __future__ import annotations

from typing import Literal

from oauth_middleware.errors import SlowDown
from oauth_middleware.server.config import ThrottlePolicy
from oauth_middleware.store import TokenStore

Bucket = Literal["client", "password", "grant"]


class Throttle:
    def __init__(self, store: TokenStore, policy: ThrottlePolicy) -> None:
        self.store = store
        self.policy = policy

    def limit(self, bucket: Bucket) -> int:
        if bucket == "client":
            return self.policy.client_failures
        if bucket == "password":
            return self.policy.password_failures
        return self.policy.grant_failures

    async def check(self, bucket: Bucket, key: str) -> int:
        """Raise :class:`SlowDown` once ``key`` is over its limit; else its failures so far."""
        return self.verdict(bucket, await self.store.failures(bucket, key))

    def verdict(self, bucket: Bucket, state: tuple[int, int]) -> int:
        """:meth:`check` on a counter already read: ``(failures, seconds left)``."""
        count, seconds_left = state
        if count >= self.limit(bucket):
            raise SlowDown(retry_after=seconds_left)
        return count

    async def failed(self, bucket: Bucket, key: str) -> None:
        await self.store.count_failure(bucket, key, window=self.policy.window)

    async def succeeded(self, bucket: Bucket, key: str, earlier_failures: int) -> None:
        """A success forgets earlier failures (one Redis call, and only when there were some)."""
        if earlier_failures:
            await self.store.clear_failures(bucket, key)
