"""Connecting to Redis so that a dead or frozen server fails fast (DESIGN decisions 1 and 9).

redis-py's defaults retry with exponential backoff: a 0.5 s socket timeout became
a 10 s hang. We set every timeout and the retry policy explicitly: one immediate
retry (it heals a pooled connection that a Redis restart broke), so the worst
case of one command is about ``2 * (connect_timeout + socket_timeout)``.
"""

from __future__ import annotations

import logging
from types import TracebackType

import redis.asyncio as aioredis
from redis.asyncio.connection import AbstractConnection
from redis.exceptions import RedisError, ResponseError

logger = logging.getLogger("oauth_middleware.store")

#: Seconds to wait for a TCP connection to Redis.
CONNECT_TIMEOUT = 0.5
#: Seconds to wait for one reply from Redis.
SOCKET_TIMEOUT = 0.5
#: Immediate retries of a command after a connection error or timeout.
RETRIES = 1
#: Connections one process may open; past this Redis counts as unavailable.
MAX_CONNECTIONS = 512

STORE_ERRORS: tuple[type[BaseException], ...] = (RedisError, OSError, TimeoutError)


class StoreUnavailable(Exception):
    """Redis could not be reached in time. Boundaries answer 503 + Retry-After.

    The message never names the Redis host, port or URL.
    """

    def __init__(self) -> None:
        super().__init__("the token store is unavailable")


class StoreRefused(StoreUnavailable):
    """Redis was reached but answered with an error: a database number it does not have, a
    command its ACL, memory limit or replica role refuses, a script it would not run.

    To the app it is an outage like any other (503). ``reply`` keeps Redis's own
    words for an operator's tool, so the CLI need not claim Redis is out of reach;
    the message, as for every :class:`StoreUnavailable`, names no host or URL.
    """

    def __init__(self, reply: str = "") -> None:
        super().__init__()
        self.reply = reply


def unavailable(exc: BaseException | None) -> StoreUnavailable:
    """What a Redis failure becomes: :class:`StoreRefused` when Redis answered with an error."""
    if isinstance(exc, ResponseError):
        return StoreRefused(str(exc))
    return StoreUnavailable()


class _Guard:
    """``with GUARD:`` turns any Redis failure into :class:`StoreUnavailable`."""

    __slots__ = ()

    def __enter__(self) -> None:
        return None

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is not None and issubclass(exc_type, STORE_ERRORS):
            logger.warning("token store unavailable: %s", exc_type.__name__)
            raise unavailable(exc) from None


GUARD = _Guard()


#: What to do when the embedded store's libraries are missing (they are an extra).
EMBEDDED_MISSING = (
    "TokenStore.from_url(None) is the embedded in-process store, which needs fakeredis "
    "with Lua: pip install \"oauth-middleware[embedded]\", or pass a Redis URL "
    "(redis://, rediss://, unix://)"
)


def embedded() -> aioredis.Redis:
    """The in-process store: fakeredis, driven through the same client API and scripts.

    fakeredis and lupa (its Lua) are the ``embedded`` extra, not core dependencies: a
    deployment that forgot its Redis URL then stops here, at start, rather than serving
    with every worker keeping its own tokens. lupa is imported now because fakeredis
    loads it only at the first script, long after start.
    """
    try:
        import fakeredis
        import lupa  # noqa: F401
    except ImportError as missing:
        raise ImportError(EMBEDDED_MISSING) from missing

    client: aioredis.Redis = fakeredis.FakeAsyncRedis(server=fakeredis.FakeServer())
    return client


def dedicated(client: aioredis.Redis) -> AbstractConnection:
    """A connection outside ``client``'s pool to the same server, speaking RESP2 whatever the
    client's default, with no timeouts of its own: its user bounds every wait itself.

    redis-py's maintenance-notification handler (``maint_notifications_*``) is the
    pool's, and needs RESP3 or hiredis: it is left off this RESP2 connection, which
    without hiredis would otherwise refuse to be built at all.
    """
    pool = client.connection_pool
    kwargs = {key: value for key, value in pool.connection_kwargs.items() if "maint" not in key}
    connection: AbstractConnection = pool.connection_class(**{
        **kwargs, "protocol": 2, "socket_timeout": None, "socket_connect_timeout": None,
    })
    return connection
