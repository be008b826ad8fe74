"""Key schema 2 for the features written against schema 1: each new key's hash tag, the
renames ``store import`` applies, and the compensating steps of the split scripts
(``store/keys.py``'s docstring), on every backend: fakeredis, one node and a cluster."""

from __future__ import annotations

import pytest
from redis.crc import key_slot

from oauth_middleware.models import Client
from oauth_middleware.security import digest
from oauth_middleware.store import TokenStore
from oauth_middleware.store.keys import Keys, current_name, kind_of
from tests.store_helpers import redis_of

URL = "https://app.example/oauth-client.json"


def _slot(key: str) -> int:
    return key_slot(key.encode())


def test_each_new_key_carries_the_tag_its_scripts_share() -> None:
    """The signing keys share one slot, as do the client id lists; a document's state
    is in the slot of its URL's digest; a user's remembered consents in the user's."""
    k = Keys()
    assert {_slot(k.signing_keys), _slot(k.signing_current), _slot(k.signing_retire)} == {
        _slot("{signing}")}
    assert {_slot(k.clients), _slot(k.dynamic_clients), _slot(k.dynamic_used),
            _slot(k.document_clients)} == {_slot("{registry}")}
    assert k.document(URL) == f"om:document:{{{digest(URL)}}}"
    assert _slot(k.remembered("alice")) == _slot(k.remembered_index("alice")) == _slot(
        k.user_index("alice"))
    for name, kind in ((k.signing_keys, "signing_keys"), (k.dynamic_used, "dynamic_used"),
                       (k.document_clients, "document_clients"),
                       (k.document(URL), "document_state")):
        assert kind_of(name.removeprefix("om:")) == kind


@pytest.mark.parametrize(("old", "new"), [
    ("clients:used", "clients:{registry}:used"),
    ("clients:documents", "clients:{registry}:documents"),
    (f"document:{digest(URL)}", f"document:{{{digest(URL)}}}"),
    ("signing:keys", "signing:{signing}:keys"),
    ("signing:current", "signing:{signing}:current"),
    ("signing:retire", "signing:{signing}:retire"),
])
def test_an_import_renames_the_untagged_names_of_the_new_keys(old: str, new: str) -> None:
    assert kind_of(old) is None
    assert current_name(old) == new
    assert current_name(new) == new


async def test_a_swept_id_whose_record_is_written_again_meanwhile_stays_listed(
    store: TokenStore,
) -> None:
    """The expiry sweep saw the record gone, then a host wrote that id again: the removal
    finds the record and lists the id again, so no live client is unlisted."""
    redis = redis_of(store)
    await redis.zadd(store.keys.dynamic_used, {"c1": 10.0})
    await redis.sadd(store.keys.dynamic_clients, "c1")
    assert await store.save_client(Client(client_id="c1", title="Taken over"))
    await store._clients._forget_expired(100.0, ["c1"])
    assert await redis.sismember(store.keys.clients, "c1")
    assert not await redis.sismember(store.keys.dynamic_clients, "c1")
    assert await redis.zscore(store.keys.dynamic_used, "c1") is None
    assert (await store.get_client("c1")) is not None


async def test_a_sweep_skips_an_id_used_after_its_record_was_seen_gone(
    store: TokenStore,
) -> None:
    """A use noted after the sweep read the stale ids moves the score past the cutoff:
    that id is not unlisted."""
    redis = redis_of(store)
    await redis.sadd(store.keys.clients, "c2")
    await redis.sadd(store.keys.dynamic_clients, "c2")
    await redis.zadd(store.keys.dynamic_used, {"c2": 500.0})
    await store._clients._forget_expired(100.0, ["c2"])
    assert await redis.sismember(store.keys.clients, "c2")
    assert await redis.sismember(store.keys.dynamic_clients, "c2")
    assert await redis.zscore(store.keys.dynamic_used, "c2") == 500.0


async def test_a_new_document_client_racing_another_leaves_one_record_listed_once(
    store: TokenStore,
) -> None:
    """Two workers store the same new document client: one record is written, the other
    is refused (0) with the id rightly listed, counted once against the cap."""
    first = Client(client_id=URL, title="A", generation="g1")
    second = Client(client_id=URL, title="B", generation="g2")
    assert await store.documents.store(first, replaces="", cap=5, lifetime=60) == 1
    assert await store.documents.store(second, replaces="", cap=5, lifetime=60) == 0
    redis = redis_of(store)
    assert await redis.smembers(store.keys.document_clients) == {URL.encode()}
    assert await redis.sismember(store.keys.clients, URL)
    assert await store.documents.count() == 1
    state, record = await store.documents.read(URL)
    assert state == "ok"
    assert record is not None and record.title == "A"


async def test_a_full_document_cap_writes_neither_record_nor_state(store: TokenStore) -> None:
    assert await store.documents.store(Client(client_id=URL, title="A", generation="g"),
                                       replaces="", cap=0, lifetime=60) == -1
    assert await store.documents.read(URL) == (None, None)
    assert not await redis_of(store).sismember(store.keys.clients, URL)


def test_the_keys_of_a_document_client_are_of_known_kinds() -> None:
    """A client known by its metadata document's URL is exported and checked like any
    other: its record and its indexes are of a known kind, not unknown keys."""
    k = Keys()
    for name, kind in ((k.client(URL), "client"), (k.client_index(URL), "client_index"),
                       (k.own_index(URL), "own_index"),
                       (Keys.displaced(k.own_index(URL)), "displaced")):
        assert kind_of(name.removeprefix("om:")) == kind
    assert kind_of("client:{https://a.example/{x}}") is None
    assert kind_of("client:{https://a.example/*}") is None
