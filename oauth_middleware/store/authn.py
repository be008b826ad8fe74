"""What authenticating a client reads, in one round trip (RFC 6749 §2.3.1, §3.2.1).

The token family needs the client record and the brute-force counters that
guard it on every request; reading them in one pipeline saves round trips on
the hottest path of the authorization server.
"""

from __future__ import annotations

from collections.abc import Sequence

from oauth_middleware.models import Client
from oauth_middleware.store.base import StoreBase
from oauth_middleware.store.codec import load
from oauth_middleware.store.connection import GUARD
from oauth_middleware.store.transient import window_state


class AuthnMixin(StoreBase):
    async def client_with_failures(
        self, client_id: str | None, counters: Sequence[tuple[str, str]]
    ) -> tuple[Client | None, list[tuple[int, int]]]:
        """The client (None when ``client_id`` is None or unknown) and, per ``(bucket, key)``,
        the failures in its window and the seconds left, as :meth:`failures` gives them."""
        with GUARD:
            async with self.redis.pipeline(transaction=False) as pipe:
                for bucket, key in counters:
                    pipe.hmget(self.keys.throttle(bucket, key), "count", "ends")
                if client_id is not None:
                    pipe.get(self.keys.client(client_id))
                replies = await pipe.execute()
        raw = replies.pop() if client_id is not None else None
        now = self.now_ms()
        states = [window_state(count, ends, now) for count, ends in replies]
        return (None if raw is None else load(Client, raw)), states
