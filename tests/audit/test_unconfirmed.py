"""A durable write whose ``WAIT`` fell short (``StoreNotDurable``, a 503) was made on the
primary all the same, and may yet be lost at a failover: its event reaches the logger and
the hook marked ``durable=unconfirmed``, never silence. On one server the script appended
the entry itself, replicated with its change (it shares the change's fate, unmarked); on
a cluster it is appended after the script, marked as the other sinks get it."""

from __future__ import annotations

from typing import Any

import pytest

from oauth_middleware.audit import AuditTrail
from oauth_middleware.store import NewTokens, TokenStore
from oauth_middleware.store._gateway.durability import Durability, Wait
from tests.audit.harness import assert_absent, audited_app, log_text, raw_stream
from tests.audit.test_cascades import exchanged
from tests.audit.test_every_sink import Fields, Sinks, sinks, streamed
from tests.server.exchange_harness import exchange, exchange_app, own_token, services, user_token
from tests.server.test_token_exchange_chains import grant_of
from tests.server.token_harness import (
    REVOKE_PATH,
    TOKEN_PATH,
    auth_of,
    code_form,
    confidential,
    http,
    new_code,
)
from tests.store_helpers import gateway
from tests.test_durable_store_writes import _durable

__all__ = ["sinks"]  # the fixture, imported to be used here

UNCONFIRMED = {"durable": "unconfirmed"}


class ConfirmedFirst(Durability):
    """The first ``confirmed`` durable writes need no replica; those after wait for one."""

    def __init__(self, confirmed: int) -> None:
        super().__init__(1, 20)
        self.confirmed = confirmed

    async def wait(self, replicas: Any) -> Wait | None:
        if self.confirmed:
            self.confirmed -= 1
            return None
        return (1, 20)


async def falling_short(store: TokenStore, backend: str, monkeypatch: pytest.MonkeyPatch,
                        *, confirmed: int = 0) -> None:
    """From now on (past ``confirmed`` durable writes) every durable write's ``WAIT``
    answers fewer replicas than asked: a faked reply on one node, the real answer of a
    cluster's primaries (they have none)."""
    if backend != "cluster":
        await _durable(store, 0, monkeypatch)
    gateway(store).durability = ConfirmedFirst(confirmed)


def announced(sinks: Sinks, type: str) -> tuple[Fields, Fields]:
    """The one event of ``type`` the logger and the hook were told of."""
    (logged,) = [f for f in sinks.logged() if f["type"] == type]
    (hooked,) = [f for f in sinks.hooked if f["type"] == type]
    assert logged == hooked
    return logged, hooked


def stream_entry(stream: list[Fields], type: str, store: TokenStore) -> Fields:
    """The stream's entry of ``type``: as its script wrote it (one server), or marked."""
    (entry,) = [f for f in stream if f["type"] == type]
    assert ("durable" in entry) is not store.events.in_script()
    return entry


@pytest.mark.rule("redis.durable-writes")
async def test_a_rotation_no_replica_confirmed_is_announced_unconfirmed(
        store: TokenStore, backend: str, sinks: Sinks, caplog: pytest.LogCaptureFixture,
        monkeypatch: pytest.MonkeyPatch) -> None:
    web = await confidential(store)
    issued = await store.issue(NewTokens(client_id="web", subject="alice",
                                         scopes=frozenset({"read"}), refresh=True))
    await falling_short(store, backend, monkeypatch)
    async with http(audited_app(store, AuditTrail(store, on_event=sinks.hook))) as client:
        answer = await client.post(TOKEN_PATH, headers=auth_of(web), data={
            "grant_type": "refresh_token", "refresh_token": issued.refresh_token})
    assert answer.status_code == 503, answer.text
    logged, _ = announced(sinks, "token.refreshed")
    assert logged.items() >= {"actor": "client:web", "grant": issued.token.grant_id,
                              **UNCONFIRMED}.items()
    entry = stream_entry(await streamed(store), "token.refreshed", store)
    assert {k: v for k, v in entry.items() if k != "durable"} == {
        k: v for k, v in logged.items() if k != "durable"}
    assert_absent([str(issued.refresh_token), issued.access_token],
                  await raw_stream(store), log_text(caplog.records), repr(sinks.hooked))


@pytest.mark.rule("redis.durable-writes")
async def test_a_redemption_no_replica_confirmed_is_announced_unconfirmed(
        store: TokenStore, backend: str, sinks: Sinks,
        monkeypatch: pytest.MonkeyPatch) -> None:
    web = await confidential(store)
    code = await new_code(store, "web")
    await falling_short(store, backend, monkeypatch)
    async with http(audited_app(store, AuditTrail(store, on_event=sinks.hook))) as client:
        answer = await client.post(TOKEN_PATH, data=code_form(code), headers=auth_of(web))
    assert answer.status_code == 503, answer.text
    logged, _ = announced(sinks, "code.redeemed")
    assert logged.items() >= UNCONFIRMED.items()
    stream_entry(await streamed(store), "code.redeemed", store)


@pytest.mark.rule("redis.durable-writes")
@pytest.mark.parametrize("which", ["access", "refresh"])
async def test_a_revocation_no_replica_confirmed_is_announced_unconfirmed(
        store: TokenStore, backend: str, sinks: Sinks, which: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    web = await confidential(store)
    issued = await store.issue(NewTokens(client_id="web", subject="alice",
                                         scopes=frozenset({"read"}), refresh=True))
    await falling_short(store, backend, monkeypatch)
    token = issued.access_token if which == "access" else str(issued.refresh_token)
    async with http(audited_app(store, AuditTrail(store, on_event=sinks.hook))) as client:
        answer = await client.post(REVOKE_PATH, data={"token": token}, headers=auth_of(web))
    assert answer.status_code == 503, answer.text
    logged, _ = announced(sinks, "token.revoked")
    assert logged.items() >= {"actor": "client:web", "grant": issued.token.grant_id,
                              **UNCONFIRMED}.items()
    stream_entry(await streamed(store), "token.revoked", store)
    assert await store.resolve(issued.access_token) is None  # done on the primary


@pytest.mark.rule("redis.durable-writes")
async def test_an_exchanged_grant_whose_sweep_no_replica_confirmed_is_announced_unconfirmed(
        store: TokenStore, backend: str, clock: Any, sinks: Sinks,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The parent's revocation was confirmed; the sweep of what was exchanged from it, the
    next durable write, was not: the cascade's event says so."""
    clients = await services(store)
    subject, refresh = await user_token(store)
    trail = AuditTrail(store, on_event=sinks.hook)
    async with http(exchange_app(store, clock, audit=trail)) as client:
        child = await grant_of(store, await exchanged(client, store, clients, subject))
        await falling_short(store, backend, monkeypatch, confirmed=1)
        revoked = await client.post(REVOKE_PATH, data={"token": refresh},
                                    headers=auth_of(clients["web"]))
    assert revoked.status_code == 503, revoked.text
    told = [f for f in sinks.hooked if f["type"] == "token.revoked"]
    assert [(f["actor"], f.get("durable")) for f in told] == [
        ("client:web", None), ("cascade", "unconfirmed")]
    assert told[1]["grant"] == child
    assert sorted(told, key=str) == sorted(
        (f for f in sinks.logged() if f["type"] == "token.revoked"), key=str)


@pytest.mark.rule("redis.durable-writes")
async def test_an_exchange_no_replica_confirmed_is_announced_unconfirmed(
        store: TokenStore, backend: str, clock: Any, sinks: Sinks,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Issuing an exchanged grant and linking it under its parent is one durable write."""
    clients = await services(store)
    subject, _ = await user_token(store)
    actor = await own_token(store, "api-b")
    await falling_short(store, backend, monkeypatch)
    trail = AuditTrail(store, on_event=sinks.hook)
    async with http(exchange_app(store, clock, audit=trail)) as client:
        answer = await exchange(client, clients["api-b"], subject, actor)
    assert answer.status_code == 503, answer.text
    logged, _ = announced(sinks, "token.issued")
    assert logged.items() >= {"actor": "client:api-b", "user": "alice", **UNCONFIRMED}.items()
    stream_entry(await streamed(store), "token.issued", store)
