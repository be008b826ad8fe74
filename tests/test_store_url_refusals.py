"""Redis URLs (store/_gateway/urls.py) word for word: each refusal's whole message (an operator
reads it at start, and it must name the part without quoting the URL), each boundary, and
the options every client is built with. Nothing here connects; tests/test_store_urls.py
has the forms, tests/test_topologies.py the real servers behind them.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.connection import SSLConnection, UnixDomainSocketConnection
from redis.backoff import NoBackoff

from oauth_middleware.store._gateway.connection import MAX_CONNECTIONS
from oauth_middleware.store._gateway.urls import (
    RedisURLError,
    SentinelPrimary,
    open_url,
    parse_url,
)

SECRET = "s3cr3t-Pa55"
HINT = "percent-encode any of : / ? # @ in the user or password"
SCHEMES = "redis, rediss, redis+cluster, rediss+cluster, redis+sentinel, rediss+sentinel"
PORT = "the port of host {} of the Redis URL is not a port number (1-65535); " + HINT
SERVICE = ("a redis+sentinel:// URL needs the service name: "
           "redis+sentinel://host:26379/service_name[/db]")
CONTROL = "the Redis URL contains a control character"


@pytest.mark.parametrize(("url", "message"), [
    ("http://h", f"the Redis URL's scheme must be one of {SCHEMES}"),
    ("redis:/h", f"the Redis URL's scheme must be one of {SCHEMES}"),
    ("redis://", "the Redis URL names no host"),
    (f"redis://u:{SECRET}@", "the Redis URL names no host"),
    ("redis://h:0", PORT.format(1)),
    ("redis://h:65536", PORT.format(1)),
    ("redis://h:-1", PORT.format(1)),
    ("redis://h:\u0663", PORT.format(1)),  # an Arabic-Indic digit: a digit, not ASCII
    ("redis://a:1,b:x", PORT.format(2)),
    ("redis://a:1,:2", "host 2 of the Redis URL is empty"),
    ("redis://[::1", "the Redis URL's host part is malformed"),
    ("redis://[::1]x", "host 1 of the Redis URL is a malformed IPv6 literal"),
    ("redis://a,[::1]x:1", "host 2 of the Redis URL is a malformed IPv6 literal"),
    ("redis://[::1]:x", PORT.format(1)),
    ("redis://[::1]:1]", PORT.format(1)),  # the first "]" closes the literal
    ("redis://[::1]]", "host 1 of the Redis URL is a malformed IPv6 literal"),
    ("redis://h/x", "the database of the Redis URL is not a number (/0, /1, …)"),
    ("redis://h/\u0663", "the database of the Redis URL is not a number (/0, /1, …)"),
    ("redis://h/0/1", "the Redis URL's path has too many parts: it is /db"),
    ("redis+sentinel://h/m/0/1", "the Redis URL's path has too many parts: it is /db"),
    ("redis+cluster://h:1/0", "a redis+cluster:// URL has no database: a Cluster only has db 0"),
    ("redis+sentinel://h:1", SERVICE),
    ("redis+sentinel://h:1/", SERVICE),
    ("redis+sentinel://h:1//0", SERVICE),
    ("redis://h?ssl_ca_certs=/ca.pem", "the Redis URL option ssl_ca_certs needs TLS: use a "
                                       "rediss scheme"),
    ("rediss://h?ssl_ca_certs=/a&ssl_ca_certs=/b", "the Redis URL option ssl_ca_certs is "
                                                   "given twice"),
    ("rediss://h?ssl_cert_reqs=maybe", "ssl_cert_reqs must be one of required, optional, none"),
    ("rediss://h?ssl_check_hostname=perhaps", "ssl_check_hostname must be yes or no"),
    ("rediss://h?ssl_keyfile=", "the Redis URL option ssl_keyfile is empty: it is a file path"),
    ("rediss://h?ssl_ca_certs", "the Redis URL option ssl_ca_certs is empty: it is a file path"),
    ("rediss://h?timeout=1", "unknown Redis URL option: the options are ssl_ca_certs, "
                             "ssl_certfile, ssl_keyfile, ssl_cert_reqs, ssl_check_hostname; "
                             + HINT),
    ("redis://h?SSL_CA_CERTS=/a", "unknown Redis URL option: the options are ssl_ca_certs, "
                                  "ssl_certfile, ssl_keyfile, ssl_cert_reqs, "
                                  "ssl_check_hostname; " + HINT),
    ("redis://h\n:1", CONTROL),
    ("redis://h\x00", CONTROL),
    ("redis://h\x1f", CONTROL),
    ("redis://h\x7f", CONTROL),
    ("redis://h#x", f"the Redis URL has a '#' fragment: {HINT}"),
    ("redis://a:1,b:2/0", "a redis:// URL names one host: list several with redis+cluster:// "
                          "or redis+sentinel://"),
])
def test_each_refusal_names_its_part_in_full(url: str, message: str) -> None:
    with pytest.raises(RedisURLError, match=f"^{re.escape(message)}$") as caught:
        open_url(url)
    assert caught.value.__cause__ is None
    assert caught.value.__context__ is None or caught.value.__suppress_context__


@pytest.mark.parametrize(("url", "expected"), [
    ("REDIS://h", ("node", False, (("h", 6379),), None, None, 0, None)),
    ("RediSS+Sentinel://h/m", ("sentinel", True, (("h", 26379),), None, None, 0, "m")),
    ("redis+cluster://h", ("cluster", False, (("h", 6379),), None, None, 0, None)),
    ("rediss+cluster://h:1/", ("cluster", True, (("h", 1),), None, None, 0, None)),
    ("redis://h:1", ("node", False, (("h", 1),), None, None, 0, None)),
    ("redis://h:65535/15", ("node", False, (("h", 65535),), None, None, 15, None)),
    ("redis://h:", ("node", False, (("h", 6379),), None, None, 0, None)),
    ("redis://[::1]", ("node", False, (("::1", 6379),), None, None, 0, None)),
    ("redis://[::1]:", ("node", False, (("::1", 6379),), None, None, 0, None)),
    ("redis://h/", ("node", False, (("h", 6379),), None, None, 0, None)),
    ("redis://h/%31", ("node", False, (("h", 6379),), None, None, 1, None)),
    ("redis+sentinel://h/m%79/3/", ("sentinel", False, (("h", 26379),), None, None, 3, "my")),
    ("redis://u:a b@h", ("node", False, (("h", 6379),), "u", "a b", 0, None)),
    ("redis://:@h", ("node", False, (("h", 6379),), None, "", 0, None)),
    ("redis://%75:@h", ("node", False, (("h", 6379),), "u", "", 0, None)),
    ("redis://@h", ("node", False, (("h", 6379),), None, None, 0, None)),
    ("redis://u%3Ax:p:q@h", ("node", False, (("h", 6379),), "u:x", "p:q", 0, None)),
    ("redis://a@b@h", ("node", False, (("h", 6379),), None, "a@b", 0, None)),
    ("redis://h#", ("node", False, (("h", 6379),), None, None, 0, None)),
    ("redis://h:1?", ("node", False, (("h", 1),), None, None, 0, None)),
    ("redis://h/0?#", ("node", False, (("h", 6379),), None, None, 0, None)),
])
def test_every_form_at_its_edges_reads_as_intended(url: str, expected: tuple[Any, ...]) -> None:
    target = parse_url(url)
    assert (target.topology, target.tls, target.nodes, target.username, target.password,
            target.db, target.service) == expected
    assert target.tls_options == {}


@pytest.mark.parametrize(("value", "reqs", "check"), [
    ("required", "required", True), ("OPTIONAL", "optional", False), ("None", "none", False),
])
def test_tls_choices_are_case_insensitive_and_normalised(value: str, reqs: str, check: bool
                                                         ) -> None:
    flag = {True: "Yes", False: "FALSE"}[check]
    target = parse_url(f"rediss://h?ssl_cert_reqs={value}&ssl_check_hostname={flag}")
    assert target.tls_options == {"ssl_cert_reqs": reqs, "ssl_check_hostname": check}
    for word, meaning in (("yes", True), ("true", True), ("1", True), ("no", False),
                          ("false", False), ("0", False)):
        options = parse_url(f"rediss://h?ssl_check_hostname={word}").tls_options
        assert options == {"ssl_check_hostname": meaning}


def test_a_second_scheme_separator_later_in_the_url_is_an_option_value() -> None:
    target = parse_url("rediss://h?ssl_ca_certs=file:///ca.pem")
    assert (target.topology, target.tls, target.nodes) == ("node", True, (("h", 6379),))
    assert target.tls_options == {"ssl_ca_certs": "file:///ca.pem"}


def test_a_password_never_shows_in_the_target_or_its_credentials_repr() -> None:
    target = parse_url(f"redis://app:{SECRET}@h")
    assert SECRET not in repr(target) and SECRET not in str(target)
    assert target.credentials() == {"username": "app", "password": SECRET}


def test_a_node_client_carries_every_timeout_retry_and_pool_setting() -> None:
    client = open_url("redis://u:pw@h:7/3", connect_timeout=0.3, socket_timeout=0.4,
                      retries=3, max_connections=7)
    assert isinstance(client, Redis)
    pool = client.connection_pool
    kwargs = pool.connection_kwargs
    assert (kwargs["host"], kwargs["port"], kwargs["db"], kwargs["username"],
            kwargs["password"]) == ("h", 7, 3, "u", "pw")
    assert (kwargs["socket_connect_timeout"], kwargs["socket_timeout"]) == (0.3, 0.4)
    assert (kwargs["decode_responses"], kwargs["client_name"]) == (False, "oauth_middleware")
    assert pool.max_connections == 7 and pool.connection_class is not SSLConnection
    retry: Any = kwargs["retry"]
    assert retry._retries == 3 and isinstance(retry._backoff, NoBackoff)
    plain: Any = open_url("rediss://h")
    defaults = plain.connection_pool
    assert defaults.max_connections == MAX_CONNECTIONS
    assert defaults.connection_class is SSLConnection
    assert (defaults.connection_kwargs["socket_connect_timeout"],
            defaults.connection_kwargs["socket_timeout"]) == (0.5, 0.5)
    assert defaults.connection_kwargs["retry"]._retries == 1


def test_a_unix_socket_url_is_handed_to_redis_py_with_the_same_settings() -> None:
    client = open_url("UNIX:///tmp/x.sock?db=2", retries=2, socket_timeout=0.25)
    assert isinstance(client, Redis)
    pool = client.connection_pool
    assert pool.connection_class is UnixDomainSocketConnection
    kwargs = pool.connection_kwargs
    assert (kwargs["path"], kwargs["db"], kwargs["socket_timeout"]) == ("/tmp/x.sock", 2, 0.25)
    assert (kwargs["decode_responses"], kwargs["client_name"]) == (False, "oauth_middleware")
    assert kwargs["retry"]._retries == 2


def test_a_sentinel_client_asks_its_sentinels_with_the_timeouts_and_tls_only() -> None:
    primary = open_url("rediss+sentinel://app:pw@s:26379/mymaster/4?ssl_cert_reqs=none",
                       connect_timeout=0.3, socket_timeout=0.4, retries=2)
    assert isinstance(primary, SentinelPrimary)
    pool: Any = primary.connection_pool
    assert (pool.service_name, pool.connection_kwargs["db"]) == ("mymaster", 4)
    manager = pool.sentinel_manager
    assert {k: v for k, v in manager.sentinel_kwargs.items() if k != "retry"} == {
        "socket_connect_timeout": 0.3, "socket_timeout": 0.4, "ssl": True,
        "ssl_cert_reqs": "none"}
    data = manager.connection_kwargs
    assert (data["username"], data["password"], data["max_connections"],
            data["decode_responses"], data["client_name"]) == ("app", "pw", 512, False,
                                                               "oauth_middleware")
    (probe,) = manager.sentinels
    assert probe.connection_pool.connection_kwargs["password"] is None


async def test_closing_a_sentinel_primary_closes_its_sentinel_connections() -> None:
    primary: Any = open_url("redis+sentinel://s1:1,s2:2/m")
    closed: list[int] = []
    for number, sentinel in enumerate(primary.connection_pool.sentinel_manager.sentinels):
        async def aclose(number: int = number, **_: Any) -> None:
            closed.append(number)
        sentinel.aclose = aclose
    disconnected: list[bool] = []

    async def disconnect(**_: Any) -> None:
        disconnected.append(True)

    primary.connection_pool.disconnect = disconnect
    await primary.aclose(close_connection_pool=False)  # the caller's choice is kept
    assert closed == [0, 1] and disconnected == []
    await primary.aclose()
    assert closed == [0, 1, 0, 1] and disconnected == [True]


def test_a_cluster_client_carries_every_timeout_retry_and_pool_setting() -> None:
    cluster = open_url("rediss+cluster://app:pw@a:1,b:2?ssl_cert_reqs=none", connect_timeout=0.3,
                       socket_timeout=0.4, retries=2, max_connections=9)
    assert isinstance(cluster, RedisCluster)
    kwargs = cluster.nodes_manager.connection_kwargs
    assert (kwargs["socket_connect_timeout"], kwargs["socket_timeout"], kwargs["decode_responses"],
            kwargs["client_name"], kwargs["username"], kwargs["ssl_cert_reqs"]) == (
        0.3, 0.4, False, "oauth_middleware", "app", "none")
    assert kwargs["max_connections"] == 9


def test_a_cluster_url_opens_a_cluster_client_and_a_plain_url_a_single_node_one() -> None:
    for url in ("redis+cluster://h:1", "REDISS+CLUSTER://h:1,h:2"):
        assert isinstance(open_url(url), RedisCluster)
    assert isinstance(open_url("redis://h:1"), Redis)
