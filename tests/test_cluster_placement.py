"""Which slot a key is in (``cluster.slot_of``) and where a client's own grant is placed on
a cluster (``ClusterRouter.near``), judged on a slot map held in memory: no cluster is
needed to know which slot a key or an id hashes to.

The real cluster's test (tests/test_cluster.py) shows the placed grants' round trips
going to the client's primary; this one shows what an id placed so is: the drawn id with
at most its last character changed, on the key's primary whenever one of the 64 endings
gets there, and as drawn when none can.
"""

from __future__ import annotations

import re
import secrets
from types import SimpleNamespace
from typing import Any

from redis.crc import key_slot

from oauth_middleware.security import new_grant_id
from oauth_middleware.store._gateway.cluster import ClusterRouter, slot_of

KEY = "om:client:{svc}"


def test_a_keys_slot_is_redis_pys_of_its_utf8_bytes_hash_tags_included() -> None:
    keys = ["om:client:{svc}", "plain", "{}", "{", "}", "}{x}", "a{}b{c}", "a{b}c{d}",
            "{{x}}", "x{y", "om:idx:user:{élan}", "{é}", "日本{語}", "", "om:at:{g}:ab",
            *(secrets.token_urlsafe(16) for _ in range(200))]
    for key in keys:
        assert slot_of(key) == key_slot(key.encode()), key
        assert slot_of(key.encode()) == key_slot(key.encode()), key


def _router(owner_of: Any) -> ClusterRouter:
    """A router over a slot map where ``owner_of(slot)`` names each slot's primary."""
    slots = {slot: [SimpleNamespace(name=owner_of(slot))] for slot in range(16384)}
    client = SimpleNamespace(nodes_manager=SimpleNamespace(slots_cache=slots))
    return ClusterRouter(client)  # type: ignore[arg-type]


def _primary(slot: int) -> str:
    return ("a", "b", "c")[slot * 3 // 16384]


def _drawing() -> tuple[list[str], Any]:
    drawn: list[str] = []

    def draw() -> str:
        drawn.append(new_grant_id())
        return drawn[-1]

    return drawn, draw


def test_a_placed_id_is_the_drawn_one_ending_so_that_its_slot_is_on_the_keys_primary() -> None:
    router = _router(_primary)
    target = _primary(key_slot(KEY.encode()))
    drawn, draw = _drawing()
    placed = [router.near(KEY, draw) for _ in range(2000)]
    assert len(set(placed)) == 2000
    for value, first in zip(placed, drawn, strict=True):
        assert re.fullmatch(r"[A-Za-z0-9_-]{22}", value) and not value.startswith("-")
        assert value[:-1] == first[:-1]
        assert _primary(key_slot(f"om:members:{{{value}}}".encode())) == target
    # an id drawn where it belongs is kept as drawn; the others changed their ending
    kept = [v == d for v, d in zip(placed, drawn, strict=True)]
    assert 0 < sum(kept) < len(kept)


def test_an_id_is_kept_as_drawn_when_no_ending_reaches_the_keys_primary() -> None:
    alone = key_slot(KEY.encode())  # the key's primary serves its slot and no other
    router = _router(lambda slot: "a" if slot == alone else "b")
    endings = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    drawn = [value for value in (new_grant_id() for _ in range(60)) if all(
        key_slot((value[:-1] + end).encode()) != alone for end in endings)][:50]
    given = iter(drawn)
    assert [router.near(KEY, lambda: next(given)) for _ in drawn] == drawn


def test_an_id_is_drawn_as_is_before_the_slot_map_is_read() -> None:
    router = _router(_primary)
    router.client.nodes_manager.slots_cache = {}
    value = secrets.token_urlsafe(16)
    assert router.near(KEY, lambda: value) == value
