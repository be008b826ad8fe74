"""Pending consents are bounded per user (SECURITY.md: every per-user collection is bounded).

A loop of ``GET auth/`` stores one consent transaction per page. Each user may
keep ``max_pending_consents`` of them; one more drops their oldest, atomically
(one Lua script), so even concurrent pages never leave more.
"""

from __future__ import annotations

import asyncio

import pytest

from oauth_middleware.limits import MAX_PENDING, PENDING_LIFETIME
from oauth_middleware.security import digest
from oauth_middleware.server import AuthorizationServer
from oauth_middleware.store import TokenStore
from tests.server.authorize_harness import (
    ISSUER,
    SECRET_KEY,
    WEB_REDIRECT,
    Harness,
    Page,
    answer,
    assert_page,
    open_harness,
    read_page,
)
from tests.store_helpers import redis_of, texts

WEB = {"client_id": "web", "redirect_uri": WEB_REDIRECT, "response_type": "code",
       "scope": "polls:read", "state": "s"}


async def _pages(harness: Harness, user: str, count: int) -> list[Page]:
    """``count`` consent pages of ``user``, opened all at once."""
    responses = await asyncio.gather(*(harness.authorize(user, **WEB) for _ in range(count)))
    assert [r.status_code for r in responses] == [200] * count
    return [read_page(r.text) for r in responses]


async def _live(store: TokenStore, user: str) -> tuple[set[str], set[str]]:
    """(digests of the user's stored transactions, digests in the user's index)."""
    prefix = store.keys.pending_prefix(user)
    keys = texts(list(await redis_of(store).keys(prefix.replace("{", "[{]") + "*")))
    index = texts(list(await redis_of(store).zrange(store.keys.pending_index(user), 0, -1)))
    return {key[len(prefix):] for key in keys}, set(index)


async def _assert_refused(harness: Harness, page: Page) -> None:
    refused = await harness.decide(page)
    assert "expired or was already answered" in assert_page(refused, 403).text
    assert await harness.code_keys() == []


@pytest.mark.rule("abuse.bounded.pending-consents")
async def test_fifty_concurrent_consent_pages_leave_at_most_the_cap_of_live_transactions(
    store: TokenStore,
) -> None:
    async with open_harness(store) as harness:
        (bobs,) = await _pages(harness, "bob", 1)
        pages = await _pages(harness, "alice", 50)
        stored, indexed = await _live(store, "alice")
        assert len(stored) == MAX_PENDING and stored == indexed
        kept = [p for p in pages if digest(p.hidden("transaction")) in stored]
        dropped = [p for p in pages if digest(p.hidden("transaction")) not in stored]
        assert (len(kept), len(dropped)) == (MAX_PENDING, 50 - MAX_PENDING)
        for sha in stored:
            ttl = await redis_of(store).pttl(store.keys.pending("alice", sha))
            assert 0 < ttl <= PENDING_LIFETIME * 1000
        assert 0 < await redis_of(store).pttl(store.keys.pending_index("alice")) <= (
            PENDING_LIFETIME * 1000)
        assert await _live(store, "bob") == ({digest(bobs.hidden("transaction"))},) * 2
        await _assert_refused(harness, dropped[0])
        base, _, params = answer(await harness.decide(kept[0]))
        assert base == WEB_REDIRECT and set(params) == {"code", "state"}
        base, _, params = answer(await harness.decide(bobs, user="bob"))
        assert base == WEB_REDIRECT and set(params) == {"code", "state"}


@pytest.mark.rule("abuse.bounded.pending-consents", "auth.csrf.transaction")
async def test_opening_one_page_past_the_cap_drops_the_oldest_which_can_no_longer_be_approved(
    store: TokenStore,
) -> None:
    async with open_harness(store, max_pending_consents=3) as harness:
        pages = [await harness.consent("alice", **WEB) for _ in range(4)]
        stored, indexed = await _live(store, "alice")
        assert stored == indexed == {digest(p.hidden("transaction")) for p in pages[1:]}
        await _assert_refused(harness, pages[0])
        for page in pages[1:]:
            assert set(answer(await harness.decide(page))[2]) == {"code", "state"}
        assert (await _live(store, "alice"))[1] == set()  # answered: none counts any more


@pytest.mark.rule("abuse.bounded.pending-consents")
async def test_answering_a_consent_page_takes_it_out_of_the_users_index(
    store: TokenStore,
) -> None:
    async with open_harness(store, max_pending_consents=2) as harness:
        first, second = [await harness.consent("alice", **WEB) for _ in range(2)]
        denied = answer(await harness.decide(first, "deny"))[2]
        assert denied["error"] == "access_denied"
        _, indexed = await _live(store, "alice")
        assert indexed == {digest(second.hidden("transaction"))}
        taken = store.keys.pending("alice", digest(first.hidden("transaction")))
        assert 0 < await redis_of(store).pttl(taken) <= 60_000  # the tombstone of a taken one
        third = await harness.consent("alice", **WEB)  # fits: the answered one is not counted
        for page in (second, third):
            assert set(answer(await harness.decide(page))[2]) == {"code", "state"}


@pytest.mark.rule("abuse.bounded.pending-consents")
async def test_the_pending_consent_cap_is_checked_at_construction(store: TokenStore) -> None:
    for bad in (0, -1, 1001):
        with pytest.raises(ValueError, match="max_pending_consents must be 1 to 1000"):
            AuthorizationServer(store=store, issuer=ISSUER, secret_key=SECRET_KEY,
                                max_pending_consents=bad)
    server = AuthorizationServer(store=store, issuer=ISSUER, secret_key=SECRET_KEY,
                                 max_pending_consents=1)
    assert server.config.max_pending_consents == 1
