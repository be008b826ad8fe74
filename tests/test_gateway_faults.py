"""The gateway fails closed (store/_gateway): every Redis failure is a 503, never a wrong answer.

In process on fakeredis: each redis-py error class is raised where a real server's
would surface (the pooled connection of a pipeline, the client of the lookup batch),
and the gateway must turn it into :class:`StoreUnavailable` (:class:`StoreRefused`
when Redis answered with an error), with nothing of the failure attached, and the
route into 503 + Retry-After. The real-server halves are tests/test_unavailable.py.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Iterator, Sequence
from typing import Any

import httpx
import pytest
import redis.exceptions as rex

from oauth_middleware.store import NewTokens, StoreRefused, StoreUnavailable, TokenStore
from oauth_middleware.store._gateway import Script, evalsha
from tests.apps import build_app
from tests.faults import assert_unavailable_bearer
from tests.store_helpers import gateway, redis_of

# They drive one node's connection (faked replies, WAIT, pool): the cluster's routing is
# proven by tests/test_cluster.py.
pytestmark = pytest.mark.not_on_cluster

#: Redis failures that are an outage: the app may only say "unavailable".
OUTAGES: list[type[BaseException]] = [
    rex.ConnectionError, rex.TimeoutError, rex.AuthenticationError, rex.BusyLoadingError,
    rex.MaxConnectionsError, rex.DataError, rex.InvalidResponse, OSError,
    ConnectionResetError, TimeoutError,
]
#: Redis answered, with an error: still an outage to the app, Redis's words kept for tools.
REFUSALS: list[type[rex.ResponseError]] = [
    rex.ResponseError, rex.ReadOnlyError, rex.OutOfMemoryError, rex.NoPermissionError,
    rex.ExecAbortError, rex.NoScriptError,
]
REPLY = "injected: the words Redis said"


def _failing(store: TokenStore, monkeypatch: pytest.MonkeyPatch, error: BaseException) -> None:
    """Every command of ``store`` fails with ``error``: the pipeline's connection and the
    lookup batch's client alike."""
    async def fail(*args: Any, **kwargs: Any) -> Any:
        raise error

    monkeypatch.setattr(redis_of(store).connection_pool.connection_class,
                        "send_packed_command", fail)
    monkeypatch.setattr(redis_of(store), "execute_command", fail)


def _assert_bare(error: BaseException) -> None:
    assert str(error) == "the token store is unavailable"
    assert error.__cause__ is None and error.__suppress_context__
    assert error.__traceback__ is None or "injected" not in repr(error)


@pytest.mark.rule("redis.resource-503")
@pytest.mark.parametrize("kind", OUTAGES, ids=lambda k: k.__name__)
async def test_every_outage_class_is_store_unavailable_on_every_path(
    store: TokenStore, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
    kind: type[BaseException],
) -> None:
    _failing(store, monkeypatch, kind("injected: 10.1.2.3:6379 said s3cret"))
    gate = gateway(store)
    calls = (gate.run([("GET", "k")]), gate.send([("GET", "k")]), gate.get("k"),
             store.resolve("a" * 22 + "." + "b" * 43), store.get_client("web"))
    for call in calls:
        with pytest.raises(StoreUnavailable) as caught:
            await call
        assert type(caught.value) is StoreUnavailable, kind
        _assert_bare(caught.value)
    said = [r.getMessage() for r in caplog.records if r.name == "oauth_middleware.store"]
    assert said and all(m == f"token store unavailable: {kind.__name__}" for m in said), said
    assert all(r.levelno == logging.WARNING for r in caplog.records
               if r.name == "oauth_middleware.store")


@pytest.mark.rule("redis.resource-503")
@pytest.mark.parametrize("kind", REFUSALS, ids=lambda k: k.__name__)
async def test_an_error_raised_by_redis_is_store_refused_with_its_words(
    store: TokenStore, monkeypatch: pytest.MonkeyPatch, kind: type[rex.ResponseError],
) -> None:
    _failing(store, monkeypatch, kind(REPLY))
    gate = gateway(store)
    for call in (gate.run([("GET", "k")]), gate.get("k"), store.get_client("web")):
        with pytest.raises(StoreRefused) as caught:
            await call
        assert caught.value.reply == REPLY
        _assert_bare(caught.value)


@pytest.mark.rule("redis.resource-503", "responses.5xx-generic", "resource.app-not-called")
@pytest.mark.parametrize("kind", [rex.ConnectionError, rex.ReadOnlyError, OSError],
                         ids=lambda k: k.__name__)
async def test_a_route_answers_503_with_retry_after_for_any_store_failure(
    store: TokenStore, monkeypatch: pytest.MonkeyPatch, kind: type[BaseException],
) -> None:
    issued = await store.issue(NewTokens(client_id="web", subject="alice",
                                         scopes=frozenset({"polls:results"})))
    app = build_app(store)
    _failing(store, monkeypatch, kind("injected: 10.1.2.3:6379"))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="https://testserver") as client:
        response = await client.get("/polls/1/results",
                                    headers={"Authorization": f"Bearer {issued.access_token}"})
    assert_unavailable_bearer(response, "10.1.2.3", issued.access_token)
    assert app.state.calls == []


class _Exploding(Sequence[Any]):
    """A command list whose reading fails: a bug in a caller, not an outage."""

    def __len__(self) -> int:
        return 1

    def __getitem__(self, index: Any) -> Any:
        raise ZeroDivisionError

    def __iter__(self) -> Iterator[Any]:
        raise ZeroDivisionError


async def test_a_bug_while_building_the_batch_reaches_every_caller_instead_of_stranding_it(
    store: TokenStore,
) -> None:
    """The batch's command list is built from every caller's list: a failure there must be
    answered to each waiter (it once escaped the task and left them waiting forever)."""
    gate = gateway(store)
    async with asyncio.timeout(5):
        answers = await asyncio.gather(gate.send(_Exploding()), gate.send([("SET", "k", b"v")]),
                                       return_exceptions=True)
    assert [type(a) for a in answers] == [ZeroDivisionError, ZeroDivisionError]
    assert await redis_of(store).get("k") is None  # nothing of the batch was sent
    assert await gate.run([("SET", "k", b"v"), ("GET", "k")]) == [b"OK", b"v"]


async def test_a_bug_in_the_lookup_batch_reaches_every_caller_unchanged(
    store: TokenStore, monkeypatch: pytest.MonkeyPatch,
) -> None:
    _failing(store, monkeypatch, KeyError("a bug"))
    answers = await asyncio.gather(gateway(store).get("a"), gateway(store).get("b"),
                                   gateway(store).send([("GET", "c")]), return_exceptions=True)
    assert [type(a) for a in answers] == [KeyError, KeyError, KeyError]


async def test_an_error_reply_fails_run_with_the_first_error_in_command_order(
    store: TokenStore,
) -> None:
    await redis_of(store).set("text", b"plain")
    gate = gateway(store)
    with pytest.raises(StoreRefused) as caught:
        await gate.run([("GET", "text"), ("HGET", "text", "f"), ("LPOP", "text"),
                        ("SET", "after", b"1")])
    assert caught.value.reply.startswith("WRONGTYPE")
    _assert_bare(caught.value)
    assert await redis_of(store).get("after") == b"1"  # a pipeline, not a transaction
    assert await gate.run([]) == []
    assert await gate.one(("GET", "text")) == b"plain"


COUNTING = Script("return redis.call('INCR', KEYS[1])")


async def test_a_script_redis_does_not_know_is_loaded_and_run_exactly_once(
    store: TokenStore,
) -> None:
    gate = gateway(store)
    await redis_of(store).script_flush()
    call = evalsha(COUNTING, ["counter"], [])
    assert await gate.run([("SET", "before", b"x"), call], COUNTING) == [b"OK", 1]
    assert await gate.one(call, COUNTING) == 2
    await redis_of(store).script_flush()  # a restart empties the script cache
    assert await gate.one(call, COUNTING) == 3
    assert await redis_of(store).get("counter") == b"3"


async def test_a_script_missing_after_its_load_is_refused_not_retried_forever(
    store: TokenStore,
) -> None:
    """Only the scripts passed along are loaded; a second NOSCRIPT fails the call."""
    gate = gateway(store)
    await redis_of(store).script_flush()
    with pytest.raises(StoreRefused) as caught:
        await gate.run([evalsha(COUNTING, ["counter"], [])])
    assert caught.value.reply == "No matching script. Please use EVAL."
    assert await redis_of(store).get("counter") is None


async def test_a_script_is_called_by_the_sha1_of_its_source(store: TokenStore) -> None:
    source = "return ARGV[1] .. KEYS[1]"
    script = Script(source)  # made here, not at import: the test sees what __init__ does
    assert script.source == source
    assert script.sha == hashlib.sha1(source.encode(), usedforsecurity=False).hexdigest()
    assert evalsha(script, ["k1", "k2"], ["a", 1]) == ("EVALSHA", script.sha, 2, "k1", "k2",
                                                       "a", 1)
    await redis_of(store).script_flush()
    assert await gateway(store).one(evalsha(script, ["k"], ["v"]), script) == b"vk"
