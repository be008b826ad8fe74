"""Redis URL forms (issue 13 §2): one node, Cluster, Sentinel, with ACL users and TLS options.

Pure parsing and client construction: nothing here connects. The real servers behind
each form are proved in tests/test_topologies.py.
"""

from __future__ import annotations

from typing import Any

import pytest
from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.connection import SSLConnection
from redis.asyncio.sentinel import SentinelManagedSSLConnection

from oauth_middleware import TokenStore
from oauth_middleware.store._gateway.urls import RedisURLError, open_url, parse_url
from tests.store_helpers import redis_of

SECRET = "s3cr3t-Pa55"


def test_a_plain_url_gives_one_node_with_its_database_and_decoded_acl_user() -> None:
    target = parse_url("redis://app%40svc:p%2Fw%3Ad%40@10.0.0.5:7000/3")
    assert (target.topology, target.tls, target.nodes) == ("node", False, (("10.0.0.5", 7000),))
    assert (target.username, target.password, target.db) == ("app@svc", "p/w:d@", 3)
    assert "p/w:d@" not in repr(target)


def test_a_password_alone_is_read_as_redis_py_reads_it() -> None:
    target = parse_url(f"redis://:{SECRET}@localhost")
    assert (target.username, target.password, target.nodes) == (None, SECRET,
                                                                (("localhost", 6379),))
    assert parse_url(f"redis://{SECRET}@localhost").password == SECRET


def test_a_cluster_url_lists_every_seed_node_including_ipv6() -> None:
    target = parse_url("rediss+cluster://u:p@a:7000,b,[::1]:7002?ssl_ca_certs=/ca.pem")
    assert target.topology == "cluster" and target.tls
    assert target.nodes == (("a", 7000), ("b", 6379), ("::1", 7002))
    assert target.tls_options == {"ssl_ca_certs": "/ca.pem"}


def test_a_sentinel_url_names_sentinels_service_and_database() -> None:
    target = parse_url("redis+sentinel://u:p@s1:26379,s2/mymaster/2")
    assert target.topology == "sentinel"
    assert target.nodes == (("s1", 26379), ("s2", 26379))
    assert (target.service, target.db, target.username, target.password) == (
        "mymaster", 2, "u", "p")


def test_tls_options_are_parsed_and_checked() -> None:
    target = parse_url("rediss://h/0?ssl_ca_certs=/ca.pem&ssl_certfile=/c.pem&ssl_keyfile=/k.pem"
                       "&ssl_cert_reqs=NONE&ssl_check_hostname=no")
    assert target.tls_options == {
        "ssl_ca_certs": "/ca.pem", "ssl_certfile": "/c.pem", "ssl_keyfile": "/k.pem",
        "ssl_cert_reqs": "none", "ssl_check_hostname": False,
    }


@pytest.mark.parametrize(("url", "part"), [
    ("http://h", "scheme"),
    ("redis:/h", "scheme"),
    ("redis://", "no host"),
    ("redis://h:0", "port of host 1"),
    ("redis://a:1,b:x", "port of host 2"),
    ("redis://[::1", "host part"),
    ("redis://[::1]x", "IPv6"),
    ("redis://h/x", "database"),
    ("redis://h/0/1", "too many parts"),
    ("redis+cluster://h:1/0", "no database"),
    ("redis+sentinel://h:1", "service name"),
    ("redis://h?ssl_ca_certs=/ca.pem", "needs TLS"),
    ("rediss://h?ssl_ca_certs=/a&ssl_ca_certs=/b", "given twice"),
    ("rediss://h?ssl_cert_reqs=maybe", "ssl_cert_reqs must be"),
    ("rediss://h?ssl_check_hostname=perhaps", "ssl_check_hostname must be"),
    ("rediss://h?ssl_keyfile=", "is empty"),
    ("rediss://h?timeout=1", "unknown Redis URL option"),
    ("redis://h\n:1", "control character"),
    ("redis://h#x", "fragment"),
])
def test_a_malformed_url_names_the_part_that_is_wrong(url: str, part: str) -> None:
    with pytest.raises(RedisURLError, match=part):
        parse_url(url)


@pytest.mark.parametrize("url", [
    f"redis://user:{SECRET}/x@h:6379/0",       # an unencoded "/" in the password
    f"redis://user:{SECRET}#x@h:6379/0",       # an unencoded "#"
    f"redis://{SECRET}:{SECRET}",              # the password read as a port
    f"redis://u:{SECRET}@h:{SECRET}/0",
    f"redis+sentinel://u:{SECRET}@h:1",
    f"redis://u:{SECRET}@h/{SECRET}",
    f"rediss://u:{SECRET}@h?{SECRET}=1",
    f"rediss://u:pass?{SECRET}@h:1",          # an unencoded "?"
    f"redis+cluster://u:{SECRET}@h:1/{SECRET}",
])
def test_no_error_about_a_url_quotes_its_password(url: str) -> None:
    with pytest.raises(RedisURLError) as caught:
        TokenStore.from_url(url)
    assert SECRET not in str(caught.value) and SECRET not in repr(caught.value)
    error = caught.value
    assert error.__cause__ is None
    assert error.__context__ is None or error.__suppress_context__


@pytest.mark.rule("rest.no-secret-in-logs")
@pytest.mark.parametrize("url", [
    f"redis://u:{SECRET}\uff03@h:6379/0",     # a full-width "#": urlsplit quotes the netloc
    f"redis://u:{SECRET}@[::1:6379/0",         # an unclosed IPv6 bracket
])
def test_no_exception_chained_to_a_url_error_quotes_its_password(url: str) -> None:
    """Error trackers walk ``__context__`` even when a traceback hides it."""
    with pytest.raises(RedisURLError) as caught:
        TokenStore.from_url(url)
    assert str(caught.value) == "the Redis URL's host part is malformed"
    chained: BaseException | None = caught.value
    while chained is not None:
        assert SECRET not in str(chained) and SECRET not in repr(chained.args)
        chained = chained.__context__ or chained.__cause__


def test_each_form_builds_the_matching_redis_py_client() -> None:
    node = open_url("rediss://u:p@h:7/2?ssl_cert_reqs=none")
    assert isinstance(node, Redis)
    kwargs = node.connection_pool.connection_kwargs
    assert (kwargs["host"], kwargs["port"], kwargs["db"], kwargs["username"]) == ("h", 7, 2, "u")
    assert kwargs["socket_timeout"] == 0.5 and kwargs["client_name"] == "oauth_middleware"
    cluster = open_url("redis+cluster://a:1,b:2")
    assert isinstance(cluster, RedisCluster)
    assert sorted(cluster.nodes_manager.startup_nodes) == ["a:1", "b:2"]
    primary = open_url("redis+sentinel://s:26379/mymaster/1")
    assert isinstance(primary, Redis)
    assert primary.connection_pool.service_name == "mymaster"  # type: ignore[attr-defined]


async def test_the_store_takes_a_cluster_url_with_every_seed_node() -> None:
    store = TokenStore.from_url("redis+cluster://127.0.0.1:7000,127.0.0.1:7001")
    assert sorted(redis_of(store).nodes_manager.startup_nodes) == [  # type: ignore[attr-defined]
        "127.0.0.1:7000", "127.0.0.1:7001"]
    await store.aclose()


def test_the_store_takes_a_sentinel_url() -> None:
    store = TokenStore.from_url("redis+sentinel://127.0.0.1:26379/mymaster")
    assert redis_of(store).connection_pool.service_name == "mymaster"  # type: ignore[attr-defined]


def test_acl_user_and_tls_options_reach_every_node_of_every_form() -> None:
    query = "?ssl_ca_certs=/ca.pem&ssl_certfile=/c.pem&ssl_keyfile=/k.pem&ssl_cert_reqs=optional"
    cluster = open_url("rediss+cluster://app:pw@a:1" + query)
    assert isinstance(cluster, RedisCluster)
    kwargs = cluster.nodes_manager.connection_kwargs
    assert kwargs["connection_class"] is SSLConnection
    assert (kwargs["username"], kwargs["password"], kwargs["ssl_ca_certs"], kwargs["ssl_certfile"],
            kwargs["ssl_keyfile"], kwargs["ssl_cert_reqs"]) == (
        "app", "pw", "/ca.pem", "/c.pem", "/k.pem", "optional")
    primary = open_url("rediss+sentinel://app:pw@s:26379/mymaster" + query)
    assert isinstance(primary, Redis)
    pool: Any = primary.connection_pool
    assert pool.connection_class is SentinelManagedSSLConnection
    assert (pool.connection_kwargs["username"], pool.connection_kwargs["password"],
            pool.connection_kwargs["ssl_certfile"]) == ("app", "pw", "/c.pem")
    (probe,) = pool.sentinel_manager.sentinels
    sentinel_kwargs = probe.connection_pool.connection_kwargs
    assert probe.connection_pool.connection_class is SSLConnection
    assert sentinel_kwargs["ssl_ca_certs"] == "/ca.pem" and sentinel_kwargs["password"] is None


def test_a_plain_url_with_several_hosts_names_the_forms_that_take_several() -> None:
    with pytest.raises(RedisURLError, match=r"redis\+cluster:// or redis\+sentinel://"):
        TokenStore.from_url("redis://a:1,b:2/0")
