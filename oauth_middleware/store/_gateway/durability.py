"""Writes a failover must not lose: ``WAIT numreplicas timeout`` after them, in the same round trip.

Redis replicates asynchronously: a primary answers a write before any replica has
it, so a revocation, a code redemption or a refresh rotation answered 200 would be
undone if the primary died at once and a replica that never saw it were promoted
(the token usable again, the code redeemable twice, the old refresh token current).
For those writes the gateway appends ``WAIT`` to the pipeline that carries them
(:mod:`.pipeline`): Redis answers it once ``min_replicas`` replicas acknowledged
every earlier write of the connection, or after ``replica_timeout`` ms with how
many did. Fewer than required is :class:`StoreNotDurable`, a 503 like every store
outage: the write is done on the primary but not confirmed durable, never reported
as a success. ``WAIT`` does not roll anything back.

``min_replicas``: a number, or None ("auto") for 1 when the primary has a replica
and 0 when it has none, read from ``INFO replication`` (``connected_slaves``) at the
first such write, again every :data:`REFRESH` seconds, and at the next one after a
failure (an outage may be a failover, whose new primary has other replicas). With 0
no ``WAIT`` is sent at all: a single node runs exactly as before. The embedded
store has no replicas; it is always 0.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

from oauth_middleware.store._gateway.connection import StoreUnavailable

#: Milliseconds a durable write waits for its replicas by default. Small: a replica's
#: acknowledgement takes a round trip on the replication link, and Redis asks for it at
#: once when a client waits; past this the write answers 503.
REPLICA_TIMEOUT = 200
#: Seconds an auto-detected replica count is trusted before ``INFO`` is read again.
REFRESH = 30.0
#: More replicas than this to wait for is a typo, not a deployment.
MAX_REPLICAS = 16

#: ``(numreplicas, timeout_ms)`` of the ``WAIT`` a pipeline appends.
Wait = tuple[int, int]


class StoreNotDurable(StoreUnavailable):
    """A write done on the primary that fewer than ``min_replicas`` replicas acknowledged
    within ``replica_timeout``: a 503, never a success. ``replies`` are the write's own
    replies (what a script deleted, for the local cache), never shown to anyone; ``wait``
    is the ``(min_replicas, replica_timeout)`` it fell short of, for the log."""

    def __init__(self, replies: list[Any], wait: Wait) -> None:
        super().__init__()
        self.replies, self.wait = replies, wait


def check_durability(min_replicas: int | None, replica_timeout: int,
                     socket_timeout: float) -> None:
    """``ValueError`` for settings that cannot work: ``WAIT`` with timeout 0 blocks forever,
    and one longer than the socket timeout would be cut off (and resent) by it."""
    if min_replicas is not None and (
            isinstance(min_replicas, bool) or not isinstance(min_replicas, int)
            or not 0 <= min_replicas <= MAX_REPLICAS):
        raise ValueError(f"min_replicas must be None (auto) or an integer from 0 to "
                         f"{MAX_REPLICAS}")
    if isinstance(replica_timeout, bool) or not isinstance(replica_timeout, int) or not (
            1 <= replica_timeout < socket_timeout * 1000):
        raise ValueError("replica_timeout must be a whole number of milliseconds, at least 1 "
                         "and below socket_timeout")


class Durability:
    """How many replicas a durable write waits for, and how long."""

    __slots__ = ("_expires", "_known", "min_replicas", "replica_timeout")

    def __init__(self, min_replicas: int | None = None,
                 replica_timeout: int = REPLICA_TIMEOUT) -> None:
        #: A fixed count, or None to learn it from the primary.
        self.min_replicas = min_replicas
        self.replica_timeout = replica_timeout
        self._known: int | None = min_replicas
        self._expires = 0.0

    def stale(self) -> None:
        """The next durable write reads ``INFO replication`` again (auto only)."""
        self._expires = 0.0

    async def wait(self, replicas: Callable[[], Awaitable[int]]) -> Wait | None:
        """The ``WAIT`` to append to a durable write, or None for none; ``replicas()`` reads
        the primary's ``connected_slaves`` when the auto count is unknown or old."""
        if self.min_replicas is None and time.monotonic() >= self._expires:
            self._known = min(1, await replicas())
            self._expires = time.monotonic() + REFRESH
        return (self._known, self.replica_timeout) if self._known else None
