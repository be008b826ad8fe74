"""Pushed authorization requests (RFC 9126): par/, and auth/ reading them back by request_uri.

The pushed request is the client's own, checked as auth/ checks one, stored by digest
with its TTL, bound to its client and answered once however often it is presented.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest

from oauth_middleware import register_client
from oauth_middleware.security import digest
from oauth_middleware.server import ThrottlePolicy
from oauth_middleware.server.par import PREFIX
from oauth_middleware.store import TokenStore
from oauth_middleware.toolbox import RegisteredClient
from tests.server.authorize_harness import (
    CHALLENGE,
    SPA_REDIRECT,
    VERIFIER,
    WEB_REDIRECT,
    Harness,
    answer,
    assert_page,
    open_harness,
    read_page,
)
from tests.server.token_harness import assert_error, assert_no_store, auth_of, basic
from tests.store_helpers import redis_of, texts

PAR = "/oauth/par/"
#: What a confidential client pushes: the code flow with PKCE and a state.
ASK = {"response_type": "code", "redirect_uri": WEB_REDIRECT, "scope": "polls:read polls:vote",
       "state": "st ü&#", "code_challenge": CHALLENGE, "code_challenge_method": "S256"}
#: Concurrent uses of one request_uri in the race tests.
N = 50


@pytest.fixture
async def harness(store: TokenStore) -> AsyncIterator[Harness]:
    async with open_harness(store, max_pending_consents=N) as h:
        yield h


async def confidential(store: TokenStore, client_id: str = "pc", **options: Any
                       ) -> RegisteredClient:
    return await register_client(store, "Pushing Client", client_id, WEB_REDIRECT,
                                 public=False, scopes_list=["polls:read", "polls:vote"],
                                 register_unknown_scopes=False, **options)


@pytest.fixture
async def pc(harness: Harness) -> RegisteredClient:
    return await confidential(harness.store)


async def push(harness: Harness, client: RegisteredClient, **fields: str) -> httpx.Response:
    return await harness.http.post(PAR, data={**ASK, **fields}, headers=auth_of(client))


async def pushed(harness: Harness, client: RegisteredClient, **fields: str) -> str:
    response = await push(harness, client, **fields)
    assert response.status_code == 201, response.text
    request_uri: str = response.json()["request_uri"]
    return request_uri


def reference(request_uri: str) -> str:
    return request_uri.removeprefix(PREFIX)


def key_of(store: TokenStore, client_id: str, request_uri: str) -> str:
    return store.keys.pushed(client_id, digest(reference(request_uri)))


async def all_keys_and_values(store: TokenStore) -> str:
    redis = redis_of(store)
    names = texts(list(await redis.keys("*")))
    values = [await redis.get(n) for n in names if await redis.type(n) == b"string"]
    return " ".join(names) + " ".join(texts([v for v in values if v is not None]))


# --- par/ --------------------------------------------------------------------------------------

@pytest.mark.rule("par.endpoint", "par.stored")
async def test_a_pushed_request_gets_a_request_uri_stored_by_digest_with_its_ttl(
    harness: Harness, pc: RegisteredClient, store: TokenStore,
) -> None:
    response = await push(harness, pc)
    assert response.status_code == 201, response.text
    assert_no_store(response)
    body = response.json()
    assert set(body) == {"request_uri", "expires_in"} and body["expires_in"] == 60
    assert body["request_uri"].startswith(PREFIX) and len(reference(body["request_uri"])) >= 43
    key = key_of(store, "pc", body["request_uri"])
    assert 0 < await redis_of(store).pttl(key) <= 60_000
    assert await redis_of(store).zcard(store.keys.pushed_index("pc")) == 1
    stored = await all_keys_and_values(store)
    assert reference(body["request_uri"]) not in stored
    assert pc.client_secret is not None and pc.client_secret not in stored
    again = await pushed(harness, pc)
    assert again != body["request_uri"]


@pytest.mark.rule("par.endpoint")
async def test_the_request_uri_lives_as_long_as_configured(store: TokenStore) -> None:
    async with open_harness(store, par_lifetime=600) as h:
        client = await confidential(store)
        response = await push(h, client)
        assert response.json()["expires_in"] == 600
        assert 590_000 < await redis_of(store).pttl(
            key_of(store, "pc", response.json()["request_uri"])) <= 600_000
    with pytest.raises(ValueError, match="par_lifetime"):
        async with open_harness(store, par_lifetime=601):
            pass


@pytest.mark.rule("par.endpoint")
async def test_a_public_client_pushes_with_its_client_id_alone_and_still_needs_pkce(
    harness: Harness,
) -> None:
    spa = {**ASK, "client_id": "spa", "redirect_uri": SPA_REDIRECT}
    response = await harness.http.post(PAR, data=spa)
    assert response.status_code == 201, response.text
    no_pkce = {k: v for k, v in spa.items() if not k.startswith("code_challenge")}
    body = assert_error(await harness.http.post(PAR, data=no_pkce), 400, "invalid_request")
    assert "PKCE" in body["error_description"] or "code_challenge" in body["error_description"]


@pytest.mark.rule("par.endpoint")
async def test_authorization_errors_are_answered_to_the_client_as_json(
    harness: Harness, pc: RegisteredClient, store: TokenStore,
) -> None:
    bad_uri = await push(harness, pc, redirect_uri="https://evil.example/cb")
    assert_error(bad_uri, 400, "invalid_request")
    assert "location" not in bad_uri.headers
    assert_error(await push(harness, pc, response_type="bogus"), 400, "unsupported_response_type")
    assert_error(await push(harness, pc, scope="polls:secret"), 400, "invalid_scope")
    inner = await push(harness, pc, request_uri=PREFIX + "x" * 43)
    assert "request_uri" in assert_error(inner, 400, "invalid_request")["error_description"]
    assert not texts(list(await redis_of(store).keys(f"{store.keys.prefix}par*")))


@pytest.mark.rule("par.endpoint")
async def test_par_takes_a_post_form_only_with_no_parameter_twice_or_too_long(
    harness: Harness, pc: RegisteredClient,
) -> None:
    got = await harness.http.get(PAR, headers=auth_of(pc))
    assert_error(got, 405, "invalid_request")
    as_json = await harness.http.post(PAR, json=ASK, headers=auth_of(pc))
    assert_error(as_json, 400, "invalid_request")
    twice = urlencode([*ASK.items(), ("scope", "polls:read")])
    repeated = await harness.http.post(PAR, content=twice, headers={
        **auth_of(pc), "content-type": "application/x-www-form-urlencoded"})
    assert_error(repeated, 400, "invalid_request")
    assert_error(await push(harness, pc, state="s" * 5000), 400, "invalid_request")
    huge = await harness.http.post(PAR, data={**ASK, "junk": "j" * 20_000}, headers=auth_of(pc))
    assert_error(huge, 413, "invalid_request")
    in_query = await harness.http.post(PAR + "?scope=polls:read", data=ASK, headers=auth_of(pc))
    assert_error(in_query, 400, "invalid_request")
    assert (await harness.http.post("/oauth/par", data=ASK, headers=auth_of(pc))
            ).status_code == 201


@pytest.mark.rule("par.client-auth")
async def test_a_bearer_token_or_a_wrong_secret_is_no_client_authentication(
    harness: Harness, pc: RegisteredClient,
) -> None:
    for headers in ({"Authorization": "Bearer " + "t" * 43}, basic("pc", "wrong-secret"),
                    basic("nobody", "wrong-secret")):
        response = await harness.http.post(PAR, data=ASK, headers=headers)
        assert_error(response, 401, "invalid_client")
        assert response.headers["www-authenticate"] == 'Basic realm="oauth"'
    sneaky = await harness.http.post(PAR, data={**ASK, "client_id": "pc"},
                                     headers={"Authorization": "Bearer " + "t" * 43})
    assert_error(sneaky, 401, "invalid_client")


@pytest.mark.rule("par.client-auth")
async def test_failed_client_authentication_at_par_counts_in_the_token_endpoint_throttle(
    store: TokenStore,
) -> None:
    policy = ThrottlePolicy(client_failures=2, client_failures_overall=50, window=60)
    async with open_harness(store, throttle=policy) as h:
        client = await confidential(store)
        for _ in range(2):
            assert_error(await h.http.post(PAR, data=ASK, headers=basic("pc", "wrong")),
                         401, "invalid_client")
        right = await h.http.post(PAR, data=ASK, headers=auth_of(client))
        assert_error(right, 429, "slow_down")
        assert 0 < int(right.headers["retry-after"]) <= 60
        token = await h.http.post("/oauth/token/", data={"grant_type": "client_credentials"},
                                  headers=auth_of(client))
        assert_error(token, 429, "slow_down")


# --- auth/ with a request_uri --------------------------------------------------------------------

@pytest.mark.rule("par.one-time")
async def test_the_pushed_request_is_shown_again_on_reload_and_answered_once(
    harness: Harness, pc: RegisteredClient, store: TokenStore,
) -> None:
    request_uri = await pushed(harness, pc)
    query = {"client_id": "pc", "request_uri": request_uri}
    first = assert_page(await harness.authorize(**query), 200)
    assert "Authorize Pushing Client?" in first.text
    reloaded = read_page((await harness.authorize(**query)).text)
    base, where, params = answer(await harness.decide(reloaded))
    assert (base, where, params["state"]) == (WEB_REDIRECT, "query", "st ü&#")
    left = await redis_of(store).get(key_of(store, "pc", request_uri))
    assert isinstance(left, bytes) and left.startswith(b"taken:")  # a tombstone, not the request
    token = await harness.http.post("/oauth/token/", headers=auth_of(pc), data={
        "grant_type": "authorization_code", "code": params["code"],
        "redirect_uri": WEB_REDIRECT, "code_verifier": VERIFIER})
    assert token.status_code == 200, token.text
    assert set(token.json()["scope"].split()) == {"polls:read", "polls:vote"}
    stale = await harness.decide(first)
    assert "expired or was already answered" in assert_page(stale, 403).text
    assert "unknown, expired or already used" in assert_page(
        await harness.authorize(**query), 400).text
    assert len(await harness.code_keys()) == 1  # the one code (kept, used): no other made


@pytest.mark.rule("par.one-time")
async def test_fifty_concurrent_decisions_on_one_request_uri_give_one_code(
    harness: Harness, pc: RegisteredClient,
) -> None:
    request_uri = await pushed(harness, pc)
    pages = [read_page((await harness.authorize(client_id="pc", request_uri=request_uri)).text)
             for _ in range(N)]
    answers = await asyncio.gather(*(harness.decide(page) for page in pages))
    won = [r for r in answers if r.status_code == 303]
    assert len(won) == 1 and "code" in answer(won[0])[2]
    assert sorted(r.status_code for r in answers) == [303] + [403] * (N - 1)
    assert len(await harness.code_keys()) == 1


@pytest.mark.rule("par.one-time")
async def test_fifty_concurrent_uses_answered_by_remembered_consent_give_one_code(
    store: TokenStore,
) -> None:
    async with open_harness(store, remember_consent=3600) as h:
        client = await confidential(store)
        first = await pushed(h, client)
        answer(await h.decide(read_page(
            (await h.authorize(client_id="pc", request_uri=first)).text)))
        assert len(await h.code_keys()) == 1
        request_uri = await pushed(h, client)
        answers = await asyncio.gather(*(h.authorize(client_id="pc", request_uri=request_uri)
                                         for _ in range(N)))
        assert sorted(r.status_code for r in answers) == [303] + [403] * (N - 1)
        assert len(await h.code_keys()) == 2


@pytest.mark.rule("par.bound")
async def test_a_request_uri_of_one_client_is_nothing_for_another(
    harness: Harness, pc: RegisteredClient, store: TokenStore,
) -> None:
    await confidential(store, "other")
    request_uri = await pushed(harness, pc)
    for client_id in ("other", "web", "spa", "nobody"):
        page = assert_page(await harness.authorize(client_id=client_id,
                                                   request_uri=request_uri), 400)
        assert "unknown, expired or already used" in page.text
    assert await redis_of(store).exists(key_of(store, "pc", request_uri)) == 1
    assert_page(await harness.authorize(client_id="pc", request_uri=request_uri), 200)


@pytest.mark.rule("par.bound")
async def test_an_expired_tampered_or_malformed_request_uri_is_an_error_page(
    harness: Harness, pc: RegisteredClient, store: TokenStore,
) -> None:
    request_uri = await pushed(harness, pc)
    ref = reference(request_uri)
    flipped = ref[:-1] + ("A" if ref[-1] != "A" else "B")
    for bad in (PREFIX + flipped, PREFIX, PREFIX + "x" * 5000, PREFIX + ref + "\u00e9"):
        response = await harness.authorize(client_id="pc", request_uri=bad,
                                           redirect_uri=WEB_REDIRECT, response_type="code")
        assert response.status_code in (400, 413)
        assert_page(response, response.status_code)
    for other in ("urn:other:" + ref, ref, "https://evil.example/req"):  # no PAR reference
        _, _, params = answer(await harness.authorize(
            client_id="pc", request_uri=other, redirect_uri=WEB_REDIRECT, response_type="code",
            state="s"))
        assert (params["error"], params["state"]) == ("request_uri_not_supported", "s")
        assert_page(await harness.authorize(client_id="pc", request_uri=other,
                                            redirect_uri="https://evil.example/cb"), 400)
    twice = await harness.authorize_raw(
        f"client_id=pc&request_uri={ref}&request_uri={ref}".replace(ref, PREFIX + ref))
    assert_page(twice, 400)
    no_client = assert_page(await harness.authorize(request_uri=request_uri), 400)
    assert "client_id" in no_client.text
    await redis_of(store).pexpireat(key_of(store, "pc", request_uri), 1)  # as its TTL ends
    expired = assert_page(await harness.authorize(client_id="pc", request_uri=request_uri), 400)
    assert "unknown, expired or already used" in expired.text


@pytest.mark.rule("par.bound")
async def test_a_client_registered_again_under_the_same_id_cannot_use_the_old_push(
    harness: Harness, pc: RegisteredClient, store: TokenStore,
) -> None:
    from oauth_middleware.toolbox import remove_client

    request_uri = await pushed(harness, pc)
    await remove_client(store, "pc")
    await confidential(store)
    page = assert_page(await harness.authorize(client_id="pc", request_uri=request_uri), 400)
    assert "unknown, expired or already used" in page.text


@pytest.mark.rule("par.only-pushed-params")
async def test_only_the_pushed_parameters_count(
    harness: Harness, pc: RegisteredClient,
) -> None:
    request_uri = await pushed(harness, pc, scope="polls:read")
    base = {"client_id": "pc", "request_uri": request_uri}
    same = await harness.authorize(**base, response_type="code", scope="polls:read")
    assert "Read your polls" in assert_page(same, 200).text
    extra = await harness.authorize(**base, prompt="none", redirect_uri=WEB_REDIRECT,
                                    nonce="n")
    page = assert_page(extra, 200)
    assert "Vote in polls" not in page.text
    for name, value in (("scope", "polls:read polls:vote"), ("state", "other"),
                        ("redirect_uri", "https://client.example/other"),
                        ("code_challenge", "x" * 43)):
        refused = assert_page(await harness.authorize(**base, **{name: value}), 400)
        assert "differs from the one in the pushed request" in refused.text


@pytest.mark.rule("par.stored")
async def test_a_client_keeps_at_most_max_pushed_requests(store: TokenStore) -> None:
    async with open_harness(store, max_pushed_requests=3) as h:
        client = await confidential(store)
        uris = [await pushed(h, client) for _ in range(5)]
        assert await redis_of(store).zcard(store.keys.pushed_index("pc")) == 3
        for request_uri in uris[:2]:
            assert_page(await h.authorize(client_id="pc", request_uri=request_uri), 400)
        for request_uri in uris[2:]:
            assert_page(await h.authorize(client_id="pc", request_uri=request_uri), 200)


# --- requiring pushed requests ------------------------------------------------------------------

@pytest.mark.rule("par.required")
async def test_a_client_that_requires_pushed_requests_is_refused_a_plain_one(
    harness: Harness, store: TokenStore,
) -> None:
    client = await confidential(store, require_pushed_authorization_requests=True)
    plain = await harness.authorize(client_id="pc", **ASK)
    base, _, params = answer(plain)
    assert (base, params["error"], params["state"]) == (WEB_REDIRECT, "invalid_request",
                                                        "st ü&#")
    assert "pushed" in params["error_description"]
    request_uri = await pushed(harness, client)
    assert_page(await harness.authorize(client_id="pc", request_uri=request_uri), 200)
    anonymous = await harness.authorize(None, client_id="pc", **ASK)
    assert anonymous.status_code == 303 and anonymous.headers["location"].startswith("/login")


@pytest.mark.rule("par.required")
async def test_a_server_that_requires_pushed_requests_refuses_every_plain_one(
    store: TokenStore,
) -> None:
    async with open_harness(store, require_par=True) as h:
        client = await confidential(store)
        _, _, params = answer(await h.authorize(client_id="web", **ASK))
        assert params["error"] == "invalid_request"
        request_uri = await pushed(h, client)
        assert_page(await h.authorize(client_id="pc", request_uri=request_uri), 200)
        metadata = (await h.http.get("/oauth/.well-known/oauth-authorization-server")).json()
        assert metadata["require_pushed_authorization_requests"] is True


@pytest.mark.rule("par.required")
async def test_metadata_names_the_par_endpoint(harness: Harness) -> None:
    metadata = (await harness.http.get("/oauth/.well-known/oauth-authorization-server")).json()
    assert metadata["pushed_authorization_request_endpoint"] == "https://testserver/oauth/par/"
    assert metadata["require_pushed_authorization_requests"] is False


@pytest.mark.rule("par.only-pushed-params")
async def test_an_anonymous_user_is_sent_to_log_in_with_only_the_request_uri_in_next(
    harness: Harness, pc: RegisteredClient,
) -> None:
    request_uri = await pushed(harness, pc)
    response = await harness.authorize(None, client_id="pc", request_uri=request_uri)
    assert response.status_code == 303
    location = httpx.URL(response.headers["location"])
    assert location.path == "/login"
    back = httpx.URL(location.params["next"])
    assert dict(back.params) == {"client_id": "pc", "request_uri": request_uri}
    assert_page(await harness.get_auth(dict(back.params)), 200)


@pytest.mark.rule("par.stored")
async def test_a_request_uri_presented_in_time_lasts_while_the_user_signs_in_and_decides(
    harness: Harness, pc: RegisteredClient, store: TokenStore,
) -> None:
    request_uri = await pushed(harness, pc)
    key = key_of(store, "pc", request_uri)
    assert await redis_of(store).pttl(key) <= 60_000
    head = await harness.http.head("/oauth/auth/", params={"client_id": "pc",
                                                           "request_uri": request_uri})
    assert head.status_code == 303 and await redis_of(store).pttl(key) <= 60_000
    login = await harness.authorize(None, client_id="pc", request_uri=request_uri)
    assert login.status_code == 303 and login.headers["location"].startswith("/login")
    assert 590_000 < await redis_of(store).pttl(key) <= 600_000  # the consent lifetime
    assert 590_000 < await redis_of(store).pttl(store.keys.pushed_index("pc")) <= 600_000


@pytest.mark.rule("redis.token-503", "redis.auth-503")
async def test_par_and_auth_with_a_request_uri_answer_503_when_redis_is_unreachable() -> None:
    from tests.faults import assert_unavailable_json
    from tests.redis_process import free_port

    port = free_port()
    down = TokenStore.from_url(f"redis://127.0.0.1:{port}/0")
    try:
        async with open_harness(down, seeded=False) as h:
            response = await h.http.post(PAR, data=ASK, headers=basic("pc", "s" * 20))
            assert_error(response, 503, "temporarily_unavailable")
            assert_unavailable_json(response, str(port))
            page = await h.authorize(client_id="pc", request_uri=PREFIX + "r" * 43)
            assert_page(page, 503)
            assert str(port) not in page.text and "retry-after" in page.headers
    finally:
        await down.aclose()
