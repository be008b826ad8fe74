"""Is this Redis configured so that nothing is silently lost? Read at start, and by
``oauth-middleware store check``.

Clients, scopes and grants live only in Redis. A Redis that evicts keys under memory
pressure, or forgets them on restart, loses registrations and revocations without a
word, so we read three settings:

* ``maxmemory-policy``: an ``allkeys-*`` policy may evict a client or a scope (keys
  without a TTL) and refuses the start unless ``allow_eviction=True``; a ``volatile-*``
  policy may evict codes, tokens and consent transactions early: a warning. The safe
  policy is ``noeviction``: a full Redis then refuses writes (``OOM``), which the
  boundaries answer with 503 + ``Retry-After``; Redis refuses a script's first command
  that needs memory unless the script already wrote, so a grant, written by one script,
  is never half written.
* ``appendonly`` and ``save``: with neither, a restart empties the store: one loud
  warning naming ``appendonly yes``.
* ``INFO cluster``: a Cluster node reached through a plain ``redis://`` URL refuses the
  start naming the ``redis+cluster://`` scheme (a single-node client would follow no
  redirect and fail on every key of another node's slots).

Managed services and ACL users are often refused ``CONFIG`` and ``INFO``: we then say
what could not be checked and go on; only an unreachable Redis raises.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import ResponseError

from oauth_middleware.store._gateway.connection import STORE_ERRORS, unavailable

logger = logging.getLogger("oauth_middleware.store")

SAFE_POLICY = "noeviction"
NO_PERSISTENCE = ("Redis has neither AOF (appendonly no) nor RDB snapshots (save \"\"): a "
                  "restart loses every client, scope and grant. Set appendonly yes with "
                  "appendfsync everysec")
VOLATILE = ("maxmemory-policy {policy} may evict codes, tokens and consent transactions "
            "before they expire; set maxmemory-policy noeviction")
EVICTING = ("maxmemory-policy {policy} may evict registered clients and scopes; set "
            "maxmemory-policy noeviction, or pass allow_eviction=True (the command line: "
            "--allow-eviction) to run anyway")
CLUSTER_NODE = ("this Redis is a Cluster node (cluster_enabled:1): a redis:// URL reaches one "
                "node only; a Cluster is named redis+cluster://host:port[,host:port…]")
EMBEDDED = "the embedded store lives in this process: nothing to check, nothing outlives it"
NOT_CHECKED = "could not check {what}: Redis refused {command} ({reply})"


class UnsafeRedis(RuntimeError):
    """Redis is set up so that the store would lose data or reach the wrong node; the
    message names the setting to change."""


@dataclass(frozen=True, slots=True)
class RedisHealth:
    """What the check read; ``None`` where Redis would not say. ``notes`` are the warnings."""

    eviction_policy: str | None = None
    appendonly: bool | None = None
    save: str | None = None
    cluster_enabled: bool | None = None
    notes: tuple[str, ...] = ()

    @property
    def persistent(self) -> bool | None:
        """True when a restart keeps the data (AOF or RDB), None when unknown."""
        if self.appendonly or self.save:
            return True
        if self.appendonly is None or self.save is None:
            return None
        return False


class _Refused(str):
    """Redis answered a read with an error (NOPERM, an unknown or renamed command)."""


async def _config(client: aioredis.Redis, name: str) -> str | _Refused:
    try:
        reply: dict[Any, Any] = await client.config_get(name)
    except ResponseError as exc:
        return _Refused(str(exc))
    except STORE_ERRORS as exc:
        raise unavailable(exc) from None
    value = reply.get(name, reply.get(name.encode(), b""))
    return value.decode() if isinstance(value, bytes) else str(value)


async def _cluster_enabled(client: aioredis.Redis) -> bool | _Refused:
    try:
        info: dict[str, Any] = await client.info("cluster")
    except ResponseError as exc:
        return _Refused(str(exc))
    except STORE_ERRORS as exc:
        raise unavailable(exc) from None
    return str(info.get("cluster_enabled", 0)) == "1"


async def inspect(client: aioredis.Redis) -> RedisHealth:
    """Read the settings; a refused read becomes a note, an unreachable Redis raises."""
    notes: list[str] = []
    values: dict[str, str | None] = {}
    for name in ("maxmemory-policy", "appendonly", "save"):
        value = await _config(client, name)
        if isinstance(value, _Refused):
            notes.append(NOT_CHECKED.format(what=name, command="CONFIG GET", reply=value))
        values[name] = None if isinstance(value, _Refused) else value
    cluster = await _cluster_enabled(client)
    if isinstance(cluster, _Refused):
        notes.append(NOT_CHECKED.format(what="cluster mode", command="INFO", reply=cluster))
    appendonly = values["appendonly"]
    return RedisHealth(values["maxmemory-policy"],
                       None if appendonly is None else appendonly == "yes", values["save"],
                       None if isinstance(cluster, _Refused) else cluster, tuple(notes))


async def check(client: aioredis.Redis, *, allow_eviction: bool = False,
                cluster_node: bool = False) -> RedisHealth:
    """:func:`inspect`, then refuse (:class:`UnsafeRedis`) or warn, once, in the log.
    ``cluster_node``: a node of a Cluster the store speaks to as one (``redis+cluster://``)."""
    health = await inspect(client)
    if health.cluster_enabled and not cluster_node:
        raise UnsafeRedis(CLUSTER_NODE)
    policy = health.eviction_policy or SAFE_POLICY
    if policy.startswith("allkeys-") and not allow_eviction:
        raise UnsafeRedis(EVICTING.format(policy=policy))
    notes = list(health.notes)
    if policy.startswith(("allkeys-", "volatile-")):
        notes.append(VOLATILE.format(policy=policy) if policy.startswith("volatile-")
                     else EVICTING.split("; ")[0].format(policy=policy))
    if health.persistent is False:
        notes.append(NO_PERSISTENCE)
    for note in notes:
        logger.warning("redis configuration: %s", note)
    return RedisHealth(health.eviction_policy, health.appendonly, health.save,
                       health.cluster_enabled, tuple(notes))
