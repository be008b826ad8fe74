"""Durable writes (store/_gateway/durability.py) against a faked ``WAIT`` reply, in process.

fakeredis knows no ``WAIT`` and has no replica, so the connection here answers it: the
test says how many replicas acknowledged (or that Redis answered with an error). Enough
replicas is a success; fewer, a timed-out ``WAIT`` (it then answers how many did) or an
error is :class:`StoreNotDurable` (a 503), never a success, though the write is done.
The real-server halves are tests/test_durability.py and tests/test_durability_failover.py.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence
from types import SimpleNamespace
from typing import Any

import pytest
from redis.exceptions import ResponseError

from oauth_middleware.store import StoreNotDurable, StoreUnavailable, TokenStore
from oauth_middleware.store._gateway import durability, pipeline
from oauth_middleware.store._gateway.durability import REFRESH, Durability
from tests.store_helpers import gateway, redis_of

# They drive one node's connection (faked replies, WAIT, pool): the cluster's routing is
# proven by tests/test_cluster.py.
pytestmark = pytest.mark.not_on_cluster

MARK = b"faked-wait-reply"


class Replicas:
    """The replicas behind the faked ``WAIT``: how many acknowledge, and every WAIT asked."""

    def __init__(self, acked: Any) -> None:
        self.acked = acked
        self.waits: list[tuple[int, int]] = []
        self.infos = 0


async def _faking(store: TokenStore, replicas: Replicas,
                  monkeypatch: pytest.MonkeyPatch) -> None:
    """``WAIT n ms`` goes to Redis as an ``ECHO`` whose reply is replaced by ``acked``."""
    pool = redis_of(store).connection_pool
    base: Any = pool.connection_class

    packed = pipeline.packed

    def swapping(connection: Any, commands: Sequence[Any]) -> Any:
        swapped = []
        for command in commands:
            if command[0] == "WAIT":
                replicas.waits.append((command[1], command[2]))
                command = ("ECHO", MARK)
            swapped.append(command)
        return packed(connection, swapped)

    monkeypatch.setattr(pipeline, "packed", swapping)

    class WaitingConnection(base):  # type: ignore[misc]
        async def read_response(self, *args: Any, **kwargs: Any) -> Any:
            reply = await super().read_response(*args, **kwargs)
            return replicas.acked if reply == MARK else reply

    pool.connection_class = WaitingConnection
    await pool.disconnect()
    pool.reset()  # type: ignore[no-untyped-call]

    async def info(section: str) -> dict[str, Any]:
        assert section == "replication"
        replicas.infos += 1
        if isinstance(replicas.acked, ResponseError):
            raise replicas.acked
        return {"connected_slaves": replicas.acked}

    monkeypatch.setattr(redis_of(store), "info", info)


@pytest.fixture
def monotonic(monkeypatch: pytest.MonkeyPatch) -> SimpleNamespace:
    """The monotonic clock the auto replica count expires by."""
    now = SimpleNamespace(value=1000.0)
    monkeypatch.setattr(durability, "time", SimpleNamespace(monotonic=lambda: now.value))
    return now


@pytest.mark.rule("redis.durable-writes")
@pytest.mark.parametrize(("required", "acked"), [(1, 1), (1, 2), (2, 2), (3, 5)])
async def test_a_write_acknowledged_by_enough_replicas_succeeds(
    store: TokenStore, monkeypatch: pytest.MonkeyPatch, required: int, acked: int,
) -> None:
    replicas = Replicas(acked)
    await _faking(store, replicas, monkeypatch)
    gate = gateway(store)
    gate.durability = Durability(required, 37)
    assert await gate.run([("SET", "k", b"v"), ("GET", "k")], durable=True) == [b"OK", b"v"]
    assert await gate.one(("INCR", "n"), durable=True) == 1
    assert replicas.waits == [(required, 37), (required, 37)]
    assert replicas.infos == 0  # a fixed count never asks


@pytest.mark.rule("redis.durable-writes", "redis.token-503")
@pytest.mark.parametrize(("required", "acked"), [
    (1, 0), (2, 1), (3, 2), (1, ResponseError("ERR WAIT cannot be used with replica instances")),
])
async def test_fewer_replicas_a_timed_out_wait_or_an_error_is_never_a_success(
    store: TokenStore, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
    required: int, acked: Any,
) -> None:
    replicas = Replicas(acked)
    await _faking(store, replicas, monkeypatch)
    gate = gateway(store)
    gate.durability = Durability(required, 20)
    with pytest.raises(StoreNotDurable) as caught:
        await gate.run([("SET", "k", b"v"), ("GET", "k")], durable=True)
    assert isinstance(caught.value, StoreUnavailable)
    assert str(caught.value) == "the token store is unavailable"
    assert caught.value.replies == [b"OK", b"v"]
    assert caught.value.__cause__ is None and caught.value.__suppress_context__
    assert await redis_of(store).get("k") == b"v"  # done on the primary all the same
    assert replicas.waits == [(required, 20)]
    said = [r.getMessage() for r in caplog.records if r.name == "oauth_middleware.store"]
    assert said == [f"token store write not confirmed by {required} replica(s) within 20 ms"]
    assert gate.errors == {"not_durable": 1}  # even WAIT's own error reply: no refusal


async def test_a_write_that_is_not_durable_sends_its_wait_and_others_of_the_tick_none(
    store: TokenStore, monkeypatch: pytest.MonkeyPatch,
) -> None:
    replicas = Replicas(1)
    await _faking(store, replicas, monkeypatch)
    gate = gateway(store)
    gate.durability = Durability(1, 20)
    assert await gate.run([("SET", "plain", b"1")]) == [b"OK"]
    assert await gate.send([("GET", "plain")]) == [b"1"]
    assert replicas.waits == []


class _Asking(Durability):
    """Each durable write of one tick asks for its own count (as two stores sharing a
    connection would): the one ``WAIT`` must cover the largest."""

    def __init__(self, counts: list[tuple[int, int]]) -> None:
        super().__init__(1)
        self.counts = counts

    async def wait(self, replicas: Any) -> tuple[int, int] | None:
        return self.counts.pop(0)


@pytest.mark.rule("redis.durable-writes")
async def test_one_wait_asks_the_largest_count_and_time_of_the_tick_and_judges_each_list(
    store: TokenStore, monkeypatch: pytest.MonkeyPatch,
) -> None:
    replicas = Replicas(2)
    await _faking(store, replicas, monkeypatch)
    gate = gateway(store)
    gate.durability = _Asking([(3, 10), (2, 90), (1, 40)])
    answers = await asyncio.gather(*(gate.run([("INCR", name)], durable=True)
                                     for name in ("a", "b", "c")), return_exceptions=True)
    assert replicas.waits == [(3, 90)]
    assert isinstance(answers[0], StoreNotDurable) and answers[0].replies == [1]
    assert answers[1:] == [[1], [1]]


@pytest.mark.rule("redis.durable-writes")
async def test_auto_waits_for_one_replica_when_the_primary_has_any_and_rereads_later(
    store: TokenStore, monkeypatch: pytest.MonkeyPatch, monotonic: SimpleNamespace,
) -> None:
    replicas = Replicas(3)
    await _faking(store, replicas, monkeypatch)
    gate = gateway(store)
    gate.durability = Durability(None, 25)
    assert await gate.one(("SET", "k", b"1"), durable=True) == b"OK"
    monotonic.value += REFRESH - 0.001
    assert await gate.one(("SET", "k", b"2"), durable=True) == b"OK"
    assert (replicas.infos, replicas.waits) == (1, [(1, 25), (1, 25)])
    replicas.acked = 0  # the replica went away: read again after REFRESH, then no WAIT
    monotonic.value += 0.001
    assert await gate.one(("SET", "k", b"3"), durable=True) == b"OK"
    assert (replicas.infos, replicas.waits) == (2, [(1, 25), (1, 25)])


@pytest.mark.rule("redis.durable-writes")
async def test_after_a_failed_durable_write_auto_reads_the_replicas_again(
    store: TokenStore, monkeypatch: pytest.MonkeyPatch, monotonic: SimpleNamespace,
) -> None:
    """An outage may be a failover: the new primary's replicas are read at the next write."""
    replicas = Replicas(1)
    await _faking(store, replicas, monkeypatch)
    gate = gateway(store)
    gate.durability = Durability(None, 25)
    assert await gate.one(("SET", "k", b"1"), durable=True) == b"OK"
    replicas.acked = 0  # a WAIT reply of 0, then a primary without replicas
    with pytest.raises(StoreNotDurable):
        await gate.one(("SET", "k", b"2"), durable=True)
    assert await gate.one(("SET", "k", b"3"), durable=True) == b"OK"
    assert replicas.infos == 2 and replicas.waits == [(1, 25), (1, 25)]


@pytest.mark.rule("redis.durable-writes")
async def test_auto_refused_info_waits_for_nothing_from_then_on(
    store: TokenStore, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
) -> None:
    replicas = Replicas(ResponseError("NOPERM this user has no permissions to run 'info'"))
    await _faking(store, replicas, monkeypatch)
    gate = gateway(store)
    gate.durability = Durability(None, 25)
    for value in (b"1", b"2"):
        assert await gate.one(("SET", "k", value), durable=True) == b"OK"
    assert (replicas.infos, replicas.waits, gate.durability.min_replicas) == (1, [], 0)
    said = [r.getMessage() for r in caplog.records if "INFO" in r.getMessage()]
    assert said == ["min_replicas auto: INFO is refused, so no WAIT is sent; pass "
                    "min_replicas=1 when the primary has replicas, or allow +info"]


@pytest.mark.parametrize(("min_replicas", "replica_timeout", "socket_timeout", "message"), [
    (-1, 200, 0.5, "min_replicas must be None (auto) or an integer from 0 to 16"),
    (17, 200, 0.5, "min_replicas must be None (auto) or an integer from 0 to 16"),
    (True, 200, 0.5, "min_replicas must be None (auto) or an integer from 0 to 16"),
    (1.0, 200, 0.5, "min_replicas must be None (auto) or an integer from 0 to 16"),
    (1, 0, 0.5, "replica_timeout must be a whole number of milliseconds, at least 1 and "
                "below socket_timeout"),
    (1, 500, 0.5, "replica_timeout must be a whole number of milliseconds, at least 1 and "
                  "below socket_timeout"),
    (1, True, 0.5, "replica_timeout must be a whole number of milliseconds, at least 1 and "
                   "below socket_timeout"),
    (1, 20.0, 0.5, "replica_timeout must be a whole number of milliseconds, at least 1 and "
                   "below socket_timeout"),
])
def test_durability_settings_that_cannot_work_are_refused_word_for_word(
    min_replicas: Any, replica_timeout: Any, socket_timeout: float, message: str,
) -> None:
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        durability.check_durability(min_replicas, replica_timeout, socket_timeout)


@pytest.mark.parametrize(("min_replicas", "replica_timeout"), [
    (None, 1), (0, 499), (16, 200), (1, 1),
])
def test_durability_settings_at_their_bounds_are_taken(
    min_replicas: int | None, replica_timeout: int,
) -> None:
    durability.check_durability(min_replicas, replica_timeout, 0.5)
    made = TokenStore.from_url("redis://127.0.0.1:1/0", socket_timeout=0.5,
                               min_replicas=min_replicas, replica_timeout=replica_timeout)
    assert (gateway(made).durability.min_replicas,
            gateway(made).durability.replica_timeout) == (min_replicas, replica_timeout)


def test_the_embedded_store_never_waits_and_a_url_defaults_to_auto() -> None:
    embedded = gateway(TokenStore.from_url(None))
    assert (embedded.durability.min_replicas, embedded.durability.replica_timeout) == (0, 200)
    remote = gateway(TokenStore.from_url("redis://127.0.0.1:1/0"))
    assert (remote.durability.min_replicas, remote.durability.replica_timeout) == (None, 200)
