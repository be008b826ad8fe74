"""Redis URLs: one node, a Redis Cluster or a Sentinel-managed primary, with ACL users and TLS.

::

    redis://[user:password@]host[:port][/db][?options]             one node
    redis+cluster://[user:password@]host:port[,host:port…][?options]  a Cluster, any seed nodes
    redis+sentinel://[user:password@]host:port[,host:port…]/service_name[/db][?options]
    unix://[user:password@]/path/to/redis.sock[?db=N]                  handed to redis-py as is

``rediss``, ``rediss+cluster`` and ``rediss+sentinel`` speak TLS to every node (and to
the sentinels). The user and password, percent-decoded, are the ACL user of the data
nodes; sentinels are asked without them. TLS options go in the query, named as
redis-py names them: ``ssl_ca_certs`` (a CA file), ``ssl_certfile`` and ``ssl_keyfile``
(a client certificate), ``ssl_cert_reqs`` (``required``, the default, ``optional`` or
``none``) and ``ssl_check_hostname`` (``yes``/``no``).

We parse the URL ourselves rather than through redis-py's ``from_url``: one grammar for
every form, a TLS option on a plain-text URL is an error instead of silently ignored,
and a mistake is named by its part (scheme, node, port, service name, database,
option) without ever quoting the URL, whose user-info holds a password.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import SplitResult, parse_qsl, unquote, urlsplit

import redis.asyncio as aioredis
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import Sentinel
from redis.backoff import NoBackoff

from oauth_middleware.store._gateway.connection import (
    CONNECT_TIMEOUT,
    MAX_CONNECTIONS,
    RETRIES,
    SOCKET_TIMEOUT,
)

Topology = Literal["node", "cluster", "sentinel"]

SCHEMES: dict[str, tuple[Topology, bool]] = {
    "redis": ("node", False), "rediss": ("node", True),
    "redis+cluster": ("cluster", False), "rediss+cluster": ("cluster", True),
    "redis+sentinel": ("sentinel", False), "rediss+sentinel": ("sentinel", True),
}
DEFAULT_PORTS = {"node": 6379, "cluster": 6379, "sentinel": 26379}
CERT_REQS = ("required", "optional", "none")
BOOLEANS = {"yes": True, "true": True, "1": True, "no": False, "false": False, "0": False}
TLS_OPTIONS = ("ssl_ca_certs", "ssl_certfile", "ssl_keyfile", "ssl_cert_reqs",
               "ssl_check_hostname")
RESERVED_HINT = "percent-encode any of : / ? # @ in the user or password"

class RedisURLError(ValueError):
    """A Redis URL that cannot be used; the message names the part, never the URL."""


@dataclass(frozen=True, slots=True)
class RedisTarget:
    """What a Redis URL says: where the data lives, who we are, how TLS is checked."""

    topology: Topology
    tls: bool
    nodes: tuple[tuple[str, int], ...]
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    db: int = 0
    service: str | None = None
    tls_options: dict[str, Any] = field(default_factory=dict)

    def credentials(self) -> dict[str, Any]:
        return {"username": self.username, "password": self.password}


def parse_url(url: str) -> RedisTarget:
    """Read ``url`` (any form above but ``unix://``) or raise :class:`RedisURLError`."""
    if any(ord(char) < 0x20 or ord(char) == 0x7F for char in url):
        raise RedisURLError("the Redis URL contains a control character")
    scheme, sep, _ = url.partition("://")
    if not sep or scheme.lower() not in SCHEMES:
        raise RedisURLError(f"the Redis URL's scheme must be one of {', '.join(SCHEMES)}")
    topology, tls = SCHEMES[scheme.lower()]
    parts = _split(url)
    if parts.fragment:
        raise RedisURLError(f"the Redis URL has a '#' fragment: {RESERVED_HINT}")
    userinfo, _, hosts = parts.netloc.rpartition("@")
    username, password = _userinfo(userinfo)
    service, db = _path(topology, parts.path)
    return RedisTarget(topology, tls, _nodes(hosts, DEFAULT_PORTS[topology]), username,
                       password, db, service, _options(parts.query, tls))


def _split(url: str) -> SplitResult:
    """``urlsplit``, whose error may quote the netloc (user-info and all): raised outside
    the ``except``, so no exception chained to ours (``__context__``) carries the password."""
    try:
        parts: SplitResult | None = urlsplit(url)
    except ValueError:
        parts = None
    if parts is None:
        raise RedisURLError("the Redis URL's host part is malformed")
    return parts


def _userinfo(userinfo: str) -> tuple[str | None, str | None]:
    if not userinfo:
        return None, None
    user, colon, password = userinfo.partition(":")
    if not colon:  # redis-py's reading of "redis://secret@host": a password alone
        return None, unquote(user)
    return unquote(user) or None, unquote(password)


def _nodes(hosts: str, default_port: int) -> tuple[tuple[str, int], ...]:
    if not hosts:
        raise RedisURLError("the Redis URL names no host")
    return tuple(_node(text, number, default_port)
                 for number, text in enumerate(hosts.split(","), 1))


def _node(text: str, number: int, default_port: int) -> tuple[str, int]:
    if text.startswith("["):
        host, bracket, rest = text[1:].partition("]")
        if not bracket or (rest and not rest.startswith(":")):
            raise RedisURLError(f"host {number} of the Redis URL is a malformed IPv6 literal")
        port = rest[1:]
    else:
        host, _, port = text.partition(":")
    if not host:
        raise RedisURLError(f"host {number} of the Redis URL is empty")
    if not port:
        return host, default_port
    if not (port.isascii() and port.isdigit()) or not 0 < int(port) < 65536:
        raise RedisURLError(f"the port of host {number} of the Redis URL is not a port number "
                            f"(1-65535); {RESERVED_HINT}")
    return host, int(port)


def _path(topology: Topology, path: str) -> tuple[str | None, int]:
    segments = [unquote(s) for s in path.split("/")[1:]] if path else []
    if segments and segments[-1] == "":
        segments.pop()
    service = None
    if topology == "sentinel":
        if not segments or not segments[0]:
            raise RedisURLError("a redis+sentinel:// URL needs the service name: "
                                "redis+sentinel://host:26379/service_name[/db]")
        service = segments.pop(0)
    if topology == "cluster" and segments:
        raise RedisURLError("a redis+cluster:// URL has no database: a Cluster only has db 0")
    if len(segments) > 1:
        raise RedisURLError("the Redis URL's path has too many parts: it is /db")
    if not segments:
        return service, 0
    if not (segments[0].isascii() and segments[0].isdigit()):
        raise RedisURLError("the database of the Redis URL is not a number (/0, /1, …)")
    return service, int(segments[0])


def _options(query: str, tls: bool) -> dict[str, Any]:
    options: dict[str, Any] = {}
    for name, value in parse_qsl(query, keep_blank_values=True):
        if name not in TLS_OPTIONS:
            raise RedisURLError(  # unnamed: a password with a raw "?" lands here
                f"unknown Redis URL option: the options are {', '.join(TLS_OPTIONS)}; "
                f"{RESERVED_HINT}")
        if name in options:
            raise RedisURLError(f"the Redis URL option {name} is given twice")
        if not tls:
            raise RedisURLError(f"the Redis URL option {name} needs TLS: use a rediss scheme")
        options[name] = _option(name, value)
    return options


def _option(name: str, value: str) -> Any:
    if name == "ssl_cert_reqs":
        if value.lower() not in CERT_REQS:
            raise RedisURLError(f"ssl_cert_reqs must be one of {', '.join(CERT_REQS)}")
        return value.lower()
    if name == "ssl_check_hostname":
        if value.lower() not in BOOLEANS:
            raise RedisURLError("ssl_check_hostname must be yes or no")
        return BOOLEANS[value.lower()]
    if not value:
        raise RedisURLError(f"the Redis URL option {name} is empty: it is a file path")
    return value


class SentinelPrimary(aioredis.Redis):
    """The primary a Sentinel names. Closing it closes the connections to the sentinels too,
    which redis-py's own client leaves open."""

    async def aclose(self, close_connection_pool: bool | None = None) -> None:
        await super().aclose(close_connection_pool)
        for sentinel in self.connection_pool.sentinel_manager.sentinels:  # type: ignore[attr-defined]
            await sentinel.aclose()


def client_for(target: RedisTarget, **common: Any) -> aioredis.Redis | RedisCluster:
    """A redis.asyncio client for ``target``; ``common`` are the timeouts and pool options."""
    tls = {"ssl": True, **target.tls_options} if target.tls else {}
    if target.topology == "cluster":
        return RedisCluster(startup_nodes=[ClusterNode(h, p) for h, p in target.nodes],
                            **target.credentials(), **tls, **common)
    if target.topology == "sentinel":
        probe = {k: v for k, v in common.items() if k.startswith("socket_")}
        sentinel = Sentinel(list(target.nodes), sentinel_kwargs={**probe, **tls},
                            **target.credentials(), **tls, **common)
        primary: aioredis.Redis = sentinel.master_for(
            target.service or "", redis_class=SentinelPrimary, db=target.db)
        return primary
    (host, port), *more = target.nodes
    if more:
        raise RedisURLError("a redis:// URL names one host: list several with "
                            "redis+cluster:// or redis+sentinel://")
    return aioredis.Redis(host=host, port=port, db=target.db, **target.credentials(),
                          **tls, **common)


def open_url(
    url: str, *, connect_timeout: float = CONNECT_TIMEOUT, socket_timeout: float = SOCKET_TIMEOUT,
    retries: int = RETRIES, max_connections: int = MAX_CONNECTIONS,
) -> aioredis.Redis | RedisCluster:
    """The client for any URL form, with the timeouts and retry policy of :mod:`.connection`."""
    common: dict[str, Any] = {
        "socket_connect_timeout": connect_timeout, "socket_timeout": socket_timeout,
        "retry": Retry(NoBackoff(), retries), "max_connections": max_connections,
        "decode_responses": False, "client_name": "oauth_middleware",
    }
    if url.lower().startswith("unix://"):
        return aioredis.Redis.from_url(url, **common)
    return client_for(parse_url(url), **common)

