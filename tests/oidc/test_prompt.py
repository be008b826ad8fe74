"""``prompt``, ``max_age``, ``login_hint``, ``id_token_hint`` and ``ui_locales`` (OpenID Connect
Core 1.0 §3.1.2.1, §3.1.2.6), Basic OP test plan items by name; both store backends."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from joserfc import jwt

from oauth_middleware import TokenStore
from tests.conftest import FakeClock
from tests.oidc.harness import CHALLENGE, OP, OTHER, OTHER_REDIRECT, RP, RP_REDIRECT, open_op
from tests.oidc_keys import foreign_ring
from tests.server.authorize_harness import ISSUER, answer, assert_page
from tests.store_helpers import redis_of, texts


@pytest.fixture
async def op(store: TokenStore) -> AsyncIterator[OP]:
    async with open_op(store) as provider:
        yield provider


def request(**extra: str) -> dict[str, str]:
    return {"response_type": "code", "client_id": RP, "redirect_uri": RP_REDIRECT,
            "scope": "openid", "state": "st", **extra}


async def pending_keys(store: TokenStore) -> list[str]:
    return texts(list(await redis_of(store).keys(f"{store.keys.prefix}txn*")))


def login_redirect(response: object) -> dict[str, str]:
    """The login page's query, asserting the answer is a 303 to it."""
    location = response.headers["location"]  # type: ignore[attr-defined]
    assert response.status_code == 303 and location.startswith("/login?")  # type: ignore[attr-defined]
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


@pytest.mark.rule("oidc.prompt-none.no-page")
async def test_prompt_none_without_a_session_is_login_required_at_the_client(
    op: OP, store: TokenStore
) -> None:
    """OP-prompt-none-NotLoggedIn: never a page, never the login page."""
    base, where, params = answer(await op.authorize(None, **request(prompt="none")))
    assert (base, where) == (RP_REDIRECT, "query")
    assert (params["error"], params["state"]) == ("login_required", "st")
    assert await pending_keys(store) == [] and await op.h.code_keys() == []


@pytest.mark.rule("oidc.prompt-none.no-page")
async def test_prompt_none_says_the_same_whoever_the_login_hint_names(op: OP) -> None:
    """Nothing tells a prober whether an account exists: the answers are identical."""
    known = await op.authorize(None, **request(prompt="none", login_hint="alice"))
    unknown = await op.authorize(None, **request(prompt="none", login_hint="nobody"))
    assert known.status_code == unknown.status_code == 303
    assert known.headers["location"] == unknown.headers["location"]


@pytest.mark.rule("oidc.prompt-none.no-page")
async def test_prompt_none_for_a_signed_in_user_without_remembered_consent_is_consent_required(
    op: OP, store: TokenStore
) -> None:
    """OP-prompt-none-LoggedIn, with nothing remembered (the stub remembers nothing)."""
    _, _, params = answer(await op.authorize("alice", **request(prompt="none")))
    assert (params["error"], params["state"]) == ("consent_required", "st")
    assert await pending_keys(store) == [] and await op.h.code_keys() == []


async def test_prompt_none_with_another_value_is_invalid_request(op: OP) -> None:
    _, _, params = answer(await op.authorize("alice", **request(prompt="none login")))
    assert params["error"] == "invalid_request" and "prompt=none" in params["error_description"]


async def test_prompt_login_sends_a_signed_in_user_to_log_in_again_and_back_without_it(
    op: OP
) -> None:
    """OP-prompt-login: the host is told prompt=login; ``next`` no longer asks for it."""
    query = login_redirect(await op.authorize("alice", **request(prompt="login",
                                                                 login_hint="alice@x")))
    assert (query["prompt"], query["login_hint"]) == ("login", "alice@x")
    back = query["next"]
    assert back.startswith("/oauth/auth/?") and "prompt" not in parse_qs(urlsplit(back).query)
    page = await op.h.http.get(back, headers={"x-test-user": "alice"})
    assert_page(page, 200)


@pytest.mark.rule("oidc.max-age")
async def test_a_sign_in_older_than_max_age_is_sent_to_log_in_again(
    op: OP, clock: FakeClock
) -> None:
    """OP-Req-max_age=1: signed in 10 s ago, max_age=1: the login page, with prompt=login."""
    stale = {"x-auth-time": str(clock.now - 10)}
    query = login_redirect(await op.authorize("alice", stale, **request(max_age="1")))
    assert query["prompt"] == "login" and "max_age=1" in query["next"]
    fresh = {"x-auth-time": str(clock.now)}
    body = (await op.code_flow(headers=fresh, max_age="1")).json()
    assert (await op.id_token(body["id_token"]))[1]["auth_time"] == int(clock.now)


@pytest.mark.rule("oidc.max-age", "oidc.prompt-none.no-page")
async def test_a_stale_sign_in_under_prompt_none_is_login_required(
    op: OP, clock: FakeClock
) -> None:
    stale = {"x-auth-time": str(clock.now - 10)}
    _, _, params = answer(await op.authorize("alice", stale, **request(max_age="1",
                                                                        prompt="none")))
    assert params["error"] == "login_required"


@pytest.mark.rule("oidc.max-age")
async def test_max_age_from_a_host_that_gives_no_auth_time_is_login_required_not_a_loop(
    op: OP
) -> None:
    _, _, params = answer(await op.authorize("alice", **request(max_age="60")))
    assert (params["error"], params["state"]) == ("login_required", "st")


async def hint_for(op: OP, user: str, client: str = RP, redirect: str = RP_REDIRECT) -> str:
    """An ID token we issued to ``client`` for ``user``, to send back as a hint."""
    params = await op.approve(user, response_type="code", client_id=client,
                              redirect_uri=redirect, scope="openid", state="s",
                              code_challenge=CHALLENGE, code_challenge_method="S256")
    return str((await op.redeem(params["code"], client, redirect)).json()["id_token"])


@pytest.mark.rule("oidc.id-token-hint.bound")
async def test_an_id_token_hint_for_another_user_is_login_required_under_prompt_none(
    op: OP
) -> None:
    """OP-Req-id_token_hint: alice's hint while bob is signed in."""
    hint = await hint_for(op, "alice")
    _, _, params = answer(await op.authorize("bob", **request(prompt="none",
                                                               id_token_hint=hint)))
    assert params["error"] == "login_required"
    _, _, same = answer(await op.authorize("alice", **request(prompt="none", id_token_hint=hint)))
    assert same["error"] == "consent_required"  # the right user: only consent is missing
    query = login_redirect(await op.authorize("bob", **request(id_token_hint=hint)))
    assert query["prompt"] == "login"


@pytest.mark.rule("oidc.id-token-hint.bound")
async def test_an_id_token_hint_issued_to_another_client_is_invalid_request(op: OP) -> None:
    """A hint minted for client ``other`` proves nothing to ``rp``."""
    hint = await hint_for(op, "alice", OTHER, OTHER_REDIRECT)
    _, _, params = answer(await op.authorize("alice", **request(id_token_hint=hint)))
    assert (params["error"], params["state"]) == ("invalid_request", "st")
    assert "id_token_hint" in params["error_description"]


@pytest.mark.rule("oidc.id-token-hint.bound")
async def test_a_forged_foreign_or_access_token_hint_is_invalid_request(op: OP, clock: FakeClock
                                                                    ) -> None:
    key = await foreign_ring().signing_key("RS256")
    forged = jwt.encode({"alg": "RS256", "kid": op.keys.keys["RS256"].kid},
                        {"iss": ISSUER, "sub": "alice", "aud": RP, "iat": int(clock.now),
                         "exp": int(clock.now) + 60}, key)
    ours = await op.keys.signing_key("RS256")
    access_token = jwt.encode({"alg": "RS256", "typ": "at+jwt", "kid": ours.kid},
                              {"iss": ISSUER, "sub": "alice", "aud": RP, "client_id": RP,
                               "iat": int(clock.now), "exp": int(clock.now) + 60}, ours)
    for hint in (forged, access_token, "not.a.jwt", "x" * 300):
        _, _, params = answer(await op.authorize("alice", **request(prompt="none",
                                                                     id_token_hint=hint)))
        assert params["error"] == "invalid_request", hint


async def test_ui_locales_reach_the_login_page_and_the_consent_template(
    store: TokenStore, tmp_path: Path
) -> None:
    (tmp_path / "consent.html").write_text("locales={{ ui_locales | join(',') }}")
    async with open_op(store, templates=tmp_path) as op:
        page = await op.authorize("alice", **request(ui_locales="fr-CA en <script> de"))
        assert page.status_code == 200 and page.text == "locales=fr-CA,en,de"
        query = login_redirect(await op.authorize(None, **request(ui_locales="fr-CA en")))
        assert query["ui_locales"] == "fr-CA en"


@pytest.mark.rule("oidc.params.bounded")
@pytest.mark.parametrize("extra", [
    {"nonce": "n" * 513}, {"login_hint": "h" * 257}, {"ui_locales": "e" * 257},
    {"claims": "{not json"}, {"claims": "[" * 3000 + "]" * 3000},
    {"claims": '{"id_token": []}'}, {"claims": "[1]"}, {"max_age": "-1"}, {"max_age": "1e3"},
    {"max_age": "٣"}, {"prompt": "sometimes"}, {"id_token_hint": "h" * 8193},
])
async def test_malformed_or_oversized_openid_parameters_are_invalid_request(
    op: OP, store: TokenStore, extra: dict[str, str]
) -> None:
    response = await op.authorize("alice", **request(**extra))
    if response.status_code == 200:
        pytest.fail(f"accepted {extra!r}")
    _, _, params = answer(response)
    assert (params["error"], params["state"]) == ("invalid_request", "st")
    assert await pending_keys(store) == []


@pytest.mark.rule("oidc.params.bounded")
@pytest.mark.parametrize("extra", [{"nonce": "a\x00b"}, {"nonce": "n\r\nSet-Cookie: x=1"},
                                   {"login_hint": "a\tb"}, {"ui_locales": "en\x7f"}])
async def test_control_characters_in_openid_parameters_are_refused_on_a_page(
    op: OP, store: TokenStore, extra: dict[str, str]
) -> None:
    page = assert_page(await op.authorize("alice", **request(**extra)), 400)
    assert "control character" in page.text
    assert await pending_keys(store) == []


@pytest.mark.rule("oidc.params.bounded")
async def test_a_repeated_nonce_is_invalid_request(op: OP) -> None:
    response = await op.h.authorize_raw(
        "response_type=code&client_id=rp&scope=openid&state=st&nonce=a&nonce=b")
    _, _, params = answer(response)
    assert params["error"] == "invalid_request" and "nonce" in params["error_description"]


@pytest.mark.parametrize(("name", "error"), [("request", "request_not_supported"),
                                             ("request_uri", "request_uri_not_supported")])
async def test_request_objects_are_refused_with_their_own_error(
    op: OP, name: str, error: str
) -> None:
    """OP-request-Unsigned / OP-request_uri-Unsigned: the metadata says neither is taken."""
    _, _, params = answer(await op.authorize("alice", **request(**{name: "eyJhbGciOi.x.y"})))
    assert (params["error"], params["state"]) == (error, "st")


@pytest.fixture
async def remembering(store: TokenStore) -> AsyncIterator[OP]:
    """A provider that remembers consent (``remember_consent``), for returning users."""
    async with open_op(store, remember_consent=3600) as provider:
        yield provider


async def remember(store: TokenStore, *scopes: str) -> None:
    """Alice approved ``scopes`` for the relying party before (as the consent POST records)."""
    client = await store.get_client(RP)
    assert client is not None
    await store.remember_consent("alice", RP, client_generation=client.generation,
                                 approved=scopes, lifetime=3600)


async def test_prompt_none_with_remembered_consent_answers_a_code_without_any_page(
    remembering: OP, store: TokenStore
) -> None:
    """OP-prompt-none-LoggedIn: a returning user, consent remembered, nothing shown."""
    op = remembering
    await remember(store, "openid", "profile")
    response = await op.authorize("alice", **request(
        prompt="none", nonce="silent", scope="openid profile", code_challenge=CHALLENGE,
        code_challenge_method="S256"))
    _, where, params = answer(response)
    assert (where, set(params)) == ("query", {"code", "state"})
    assert await pending_keys(store) == []
    body = (await op.redeem(params["code"])).json()
    claims = (await op.id_token(body["id_token"]))[1]
    assert (claims["nonce"], body["scope"]) == ("silent", "openid profile")
    _, _, wider = answer(await op.authorize("alice", **request(
        prompt="none", scope="openid email", code_challenge=CHALLENGE,
        code_challenge_method="S256")))
    assert wider["error"] == "consent_required"


async def test_prompt_none_by_head_issues_nothing(remembering: OP, store: TokenStore) -> None:
    op = remembering
    await remember(store, "openid")
    response = await op.h.http.head("/oauth/auth/", params=request(prompt="none"),
                                    headers={"x-test-user": "alice"})
    assert response.status_code == 400 and "location" not in response.headers
    assert await op.h.code_keys() == []
