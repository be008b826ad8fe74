"""auth/ with remembered consent (OpenID Connect Core 1.0 §3.1.2.4, §3.1.2.1 ``prompt``).

With ``remember_consent`` on, a returning user whose every requested scope was approved
before goes straight back to the client; anything more, ``prompt=consent``, an expired or
forgotten approval, or a client registered anew shows the page again.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from oauth_middleware import TokenStore, register_client
from oauth_middleware.models import Scope
from oauth_middleware.server.remembered import remembered_scopes
from oauth_middleware.toolbox import remove_client, revoke_client_tokens, update_client
from tests.conftest import FakeClock
from tests.server.authorize_harness import (
    CHALLENGE,
    SPA_REDIRECT,
    WEB_REDIRECT,
    Harness,
    answer,
    assert_page,
    open_harness,
)
from tests.store_helpers import get_code, redis_of, texts

DAY = 86_400
WEB = {"client_id": "web", "redirect_uri": WEB_REDIRECT, "response_type": "code",
       "scope": "polls:read polls:vote", "state": "s1"}
READ_ONLY = {**WEB, "scope": "polls:read"}


@pytest.fixture
async def harness(store: TokenStore) -> AsyncIterator[Harness]:
    async with open_harness(store, remember_consent=30 * DAY) as h:
        yield h


async def approve(harness: Harness, scopes: list[str] | None = None, /, **params: str) -> None:
    page = await harness.consent(**(params or WEB))
    base, _, answered = answer(await harness.decide(page, scopes=scopes))
    assert base == WEB_REDIRECT and "code" in answered


async def pending_count(store: TokenStore, user: str = "alice") -> int:
    return int(await redis_of(store).zcard(store.keys.pending_index(user)))


@pytest.mark.rule("auth.consent.remembered")
async def test_a_returning_user_goes_straight_back_with_a_code_for_what_was_approved(
    harness: Harness, store: TokenStore,
) -> None:
    await approve(harness)
    before = await pending_count(store)
    response = await harness.authorize(**{**WEB, "state": "again", "code_challenge": CHALLENGE,
                                          "code_challenge_method": "S256"})
    base, where, params = answer(response)
    assert (base, where, set(params), params["state"]) == (WEB_REDIRECT, "query",
                                                           {"code", "state"}, "again")
    record = await get_code(store, params["code"])
    assert record is not None
    assert (record.client_id, record.subject, record.scopes, record.code_challenge) == (
        "web", "alice", frozenset({"polls:read", "polls:vote"}), CHALLENGE)
    assert await pending_count(store) == before  # nothing waits for a decision
    assert await store.remembered_consent("alice", "web") == {"polls:read", "polls:vote"}


@pytest.mark.rule("auth.consent.remembered")
async def test_the_consent_page_says_how_long_an_answer_is_remembered(harness: Harness) -> None:
    page = assert_page(await harness.authorize(**WEB), 200)
    assert "Your answer is remembered for 30 days" in page.text


@pytest.mark.rule("auth.csrf.get-never-grants")
async def test_without_remember_consent_the_page_shows_every_time_and_nothing_is_kept(
    store: TokenStore,
) -> None:
    async with open_harness(store) as harness:
        await approve(harness)
        page = assert_page(await harness.authorize(**WEB), 200)
        assert "remembered" not in page.text
        assert await harness.code_keys() != [] and len(await harness.code_keys()) == 1
    assert await redis_of(store).exists(store.keys.remembered("alice")) == 0
    assert await store.remembered_consent("alice", "web") == frozenset()


@pytest.mark.rule("auth.consent.remembered")
async def test_a_request_for_one_scope_more_than_approved_shows_the_page(
    harness: Harness, store: TokenStore,
) -> None:
    await approve(harness, ["polls:read"])
    page = assert_page(await harness.authorize(**WEB), 200)
    assert [c["value"] for c in page.checkboxes()] == ["polls:read", "polls:vote"]
    assert len(await harness.code_keys()) == 1  # only the first approval's
    _, _, params = answer(await harness.authorize(**READ_ONLY))
    record = await get_code(store, params["code"])
    assert record is not None and record.scopes == {"polls:read"}


@pytest.mark.rule("auth.consent.remembered")
async def test_a_request_with_no_scope_asks_for_the_clients_defaults_and_is_covered_only_by_all(
    harness: Harness, store: TokenStore,
) -> None:
    await approve(harness, ["polls:read"], **READ_ONLY)
    no_scope = {k: v for k, v in WEB.items() if k != "scope"}
    assert_page(await harness.authorize(**no_scope), 200)  # defaults: read and vote


@pytest.mark.rule("auth.consent.remembered")
async def test_prompt_consent_asks_again_and_unticking_forgets_the_scope(
    harness: Harness, store: TokenStore,
) -> None:
    await approve(harness)
    page = await harness.consent(**{**WEB, "prompt": "login consent"})
    answer(await harness.decide(page, scopes=["polls:read"]))
    assert await store.remembered_consent("alice", "web") == {"polls:read"}
    assert_page(await harness.authorize(**WEB), 200)
    answer(await harness.authorize(**READ_ONLY))


async def test_a_repeated_prompt_asks_again(harness: Harness) -> None:
    await approve(harness)
    response = await harness.authorize_raw(
        "client_id=web&response_type=code&scope=polls%3Aread&prompt=none&prompt=none")
    assert_page(response, 200)


@pytest.mark.rule("auth.consent.remembered")
async def test_denying_forgets_what_the_request_asked_for(
    harness: Harness, store: TokenStore,
) -> None:
    await approve(harness)
    page = await harness.consent(**{**READ_ONLY, "prompt": "consent"})
    _, _, params = answer(await harness.decide(page, "deny"))
    assert params["error"] == "access_denied"
    assert await store.remembered_consent("alice", "web") == {"polls:vote"}
    assert_page(await harness.authorize(**READ_ONLY), 200)


@pytest.mark.rule("auth.consent.remembered")
async def test_remembered_consent_is_per_user(harness: Harness, store: TokenStore) -> None:
    await approve(harness)
    assert_page(await harness.authorize("bob", **WEB), 200)
    assert await store.remembered_consent("bob", "web") == frozenset()


@pytest.mark.rule("auth.consent.remembered")
async def test_remembered_consent_expires_after_its_lifetime(
    harness: Harness, store: TokenStore, clock: FakeClock,
) -> None:
    await approve(harness)
    clock.advance(30 * DAY - 1)
    answer(await harness.authorize(**WEB))
    clock.advance(2)
    assert_page(await harness.authorize(**WEB), 200)
    assert await store.remembered_consent("alice", "web") == frozenset()
    pttl = await redis_of(store).pttl(store.keys.remembered("alice"))
    assert 0 < pttl <= 30 * DAY * 1000


@pytest.mark.rule("auth.consent.remembered")
async def test_a_scope_taken_off_the_client_or_disabled_is_no_longer_remembered(
    harness: Harness, store: TokenStore,
) -> None:
    await approve(harness)
    config = harness.server.config
    await store.save_scope(Scope("polls:vote", "Vote in polls", enabled=False))
    assert await remembered_scopes(config, "alice", "web") == {"polls:read"}
    await store.save_scope(Scope("polls:vote", "Vote in polls"))
    await update_client(store, "web", scopes_list=["polls:read"])
    assert await remembered_scopes(config, "alice", "web") == {"polls:read"}
    await update_client(store, "web", scopes_list=["polls:read", "polls:vote"])
    assert await remembered_scopes(config, "alice", "web") == {"polls:read", "polls:vote"}


@pytest.mark.rule("auth.consent.remembered")
async def test_a_client_registered_anew_under_the_same_id_is_asked_about_again(
    harness: Harness, store: TokenStore,
) -> None:
    await approve(harness)
    await remove_client(store, "web")
    await register_client(store, "Impostor", "web", WEB_REDIRECT, public=False,
                          scopes_list=["polls:read", "polls:vote"])
    page = assert_page(await harness.authorize(**WEB), 200)
    assert "Authorize Impostor?" in page.text
    assert await store.remembered_consent("alice", "web") == frozenset()


async def test_remembered_scopes_is_empty_when_remembering_is_off_or_the_client_is_gone(
    harness: Harness, store: TokenStore,
) -> None:
    await approve(harness)
    assert await remembered_scopes(harness.server.config, "alice", "web") == {
        "polls:read", "polls:vote"}
    async with open_harness(store, seeded=False) as off:
        assert await remembered_scopes(off.server.config, "alice", "web") == frozenset()
    await store.delete_client("web")
    assert await remembered_scopes(harness.server.config, "alice", "web") == frozenset()


@pytest.mark.rule("auth.csrf.get-never-grants")
async def test_head_never_issues_a_code_from_remembered_consent(harness: Harness) -> None:
    await approve(harness)
    response = await harness.http.head("/oauth/auth/", params=WEB,
                                       headers={"x-test-user": "alice"})
    assert response.status_code == 200 and "location" not in response.headers
    assert len(await harness.code_keys()) == 1


async def test_a_remembered_implicit_request_answers_in_the_fragment(
    harness: Harness, store: TokenStore,
) -> None:
    spa = {"client_id": "spa", "redirect_uri": SPA_REDIRECT, "response_type": "token",
           "scope": "polls:read", "state": "s"}
    page = await harness.consent(**spa)
    answer(await harness.decide(page))
    base, where, params = answer(await harness.authorize(**spa))
    assert (base, where, params["scope"], params["state"]) == (SPA_REDIRECT, "fragment",
                                                               "polls:read", "s")
    assert (await store.resolve(params["access_token"])) is not None


@pytest.mark.rule("auth.consent.remembered")
async def test_revoking_every_grant_of_a_user_forgets_their_remembered_consents(
    harness: Harness, store: TokenStore,
) -> None:
    await approve(harness)
    await store.revoke_user("alice")
    assert await store.remembered_consent("alice", "web") == frozenset()
    assert await redis_of(store).exists(store.keys.remembered("alice"),
                                        store.keys.remembered_index("alice")) == 0
    assert_page(await harness.authorize(**WEB), 200)


async def test_an_anonymous_user_is_still_sent_to_log_in(harness: Harness) -> None:
    await approve(harness)
    response = await harness.authorize(None, **WEB)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login?next=")


@pytest.mark.parametrize("value", [0, -1, 400 * DAY + 1])
async def test_remember_consent_out_of_range_is_refused_naming_the_option(
    store: TokenStore, value: int,
) -> None:
    with pytest.raises(ValueError, match="remember_consent must be 1 to 34560000 seconds"):
        async with open_harness(store, seeded=False, remember_consent=value):
            pass


@pytest.mark.rule("auth.consent.remembered")
async def test_revoking_every_token_of_a_client_forgets_what_users_approved_for_it(
    harness: Harness, store: TokenStore,
) -> None:
    await approve(harness)
    await harness.consent("bob", **WEB)  # bob never decided: nothing of his to forget
    await revoke_client_tokens(store, "web")
    assert await store.list_remembered_consents(client_id="web") == (0, [])
    assert_page(await harness.authorize(**WEB), 200)


@pytest.mark.rule("abuse.bounded.remembered-consents", "auth.consent.remembered")
async def test_fifty_approvals_posted_at_once_are_all_answered_and_the_cap_holds(
    store: TokenStore,
) -> None:
    async with open_harness(store, remember_consent=DAY, max_pending_consents=100,
                            max_remembered_consents=10) as harness:
        for i in range(50):
            await register_client(store, f"App {i}", f"app{i}", WEB_REDIRECT,
                                  scopes_list=["polls:read"])
        pages = [await harness.consent(client_id=f"app{i}", redirect_uri=WEB_REDIRECT,
                                       response_type="code", scope="polls:read",
                                       code_challenge=CHALLENGE, code_challenge_method="S256")
                 for i in range(50)]
        answers = await asyncio.gather(*(harness.decide(page) for page in pages))
        assert all("code" in answer(response)[2] for response in answers)
        fields = set(texts(await redis_of(store).hkeys(store.keys.remembered("alice"))))
        members = set(texts(await redis_of(store).zrange(store.keys.remembered_index("alice"),
                                                         0, -1)))
        assert len(fields) == 10 and fields == members
        remembered = [f"app{i}" for i in range(50)
                      if await store.remembered_consent("alice", f"app{i}")]
        assert sorted(remembered) == sorted(fields)


@pytest.mark.rule("auth.consent.remembered")
async def test_a_request_for_another_resource_asks_again(store: TokenStore) -> None:
    api, other = "https://api.example/", "https://other.example/"
    async with open_harness(store, remember_consent=DAY) as harness:
        await approve(harness, None, **{**WEB, "resource": api})
        answer(await harness.authorize(**{**WEB, "resource": api}))
        page = assert_page(await harness.authorize(**{**WEB, "resource": other}), 200)
        assert other in page.text
        assert_page(await harness.authorize(**WEB), 200)  # no audience: valid everywhere
        _, [record] = await store.list_remembered_consents(user="alice")
        assert record.audience == {api}


async def test_an_approval_without_resources_covers_requests_for_one(store: TokenStore) -> None:
    async with open_harness(store, remember_consent=DAY) as harness:
        await approve(harness)
        answer(await harness.authorize(**{**WEB, "resource": "https://api.example/"}))


@pytest.mark.rule("auth.consent.remembered")
async def test_an_approval_for_other_resources_replaces_what_was_remembered(
    store: TokenStore,
) -> None:
    api, other = "https://api.example/", "https://other.example/"
    async with open_harness(store, remember_consent=DAY) as harness:
        await approve(harness, None, **{**WEB, "resource": api})
        await approve(harness, ["polls:read"], **{**READ_ONLY, "resource": other})
        _, [record] = await store.list_remembered_consents(user="alice")
        assert (record.audience, record.scopes) == (frozenset({other}),
                                                    frozenset({"polls:read"}))
        assert_page(await harness.authorize(**{**WEB, "resource": api}), 200)
