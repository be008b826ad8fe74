"""Client authentication at the token family (RFC 6749 §2.3.1) and its brute-force throttle."""

from __future__ import annotations

import base64
import logging
from dataclasses import replace

import httpx
import pytest
from starlette.applications import Starlette

from oauth_middleware.security import (
    fingerprint,
    hash_client_secret,
    is_urlsafe,
    verify_client_secret,
)
from oauth_middleware.server import ThrottlePolicy, client_auth
from oauth_middleware.store import TokenStore
from oauth_middleware.toolbox import RegisteredClient, register_client
from tests.conftest import FakeClock
from tests.server.token_harness import (
    INTROSPECT_PATH,
    REVOKE_PATH,
    TOKEN_PATH,
    assert_error,
    assert_invalid_client,
    auth_of,
    basic,
    build_app,
    code_form,
    confidential,
    new_code,
    public,
)
from tests.store_helpers import failures

CC = {"grant_type": "client_credentials"}


@pytest.fixture
def app(store: TokenStore) -> Starlette:
    return build_app(store, throttle=ThrottlePolicy(client_failures=3, window=60))


def _secret(registered: RegisteredClient) -> str:
    assert registered.client_secret is not None
    return registered.client_secret


async def _issued_to(response: httpx.Response, store: TokenStore, client_id: str) -> None:
    """A 200 with a token the store holds for ``client_id``: authentication picked that
    client, not merely some client."""
    assert response.status_code == 200, response.text
    token = await store.resolve(response.json()["access_token"])
    assert token is not None
    assert token.client_id == client_id


@pytest.mark.rule("token.client-auth.basic")
async def test_basic_auth_with_a_real_header_works(
    client: httpx.AsyncClient, store: TokenStore, web: RegisteredClient
) -> None:
    response = await client.post(TOKEN_PATH, data=CC, headers=auth_of(web))
    await _issued_to(response, store, "web")


@pytest.mark.rule("token.client-auth.basic")
async def test_basic_auth_halves_are_url_decoded(
    client: httpx.AsyncClient, store: TokenStore, web: RegisteredClient
) -> None:
    """oauthost compared the raw halves; RFC 6749 §2.3.1 form-encodes each one first."""
    odd_secret = "s3cr&t:with+plus%/é"
    await store.save_client(replace(web.client, secret_hash=hash_client_secret(odd_secret)))
    response = await client.post(TOKEN_PATH, data=CC, headers=basic("web", odd_secret))
    await _issued_to(response, store, "web")
    encoded_id = "%77%65%62"  # "web", every character escaped
    raw = f"{encoded_id}:s3cr%26t%3Awith%2Bplus%25%2F%C3%A9".encode()
    response = await client.post(TOKEN_PATH, data=CC, headers={
        "Authorization": "Basic " + base64.b64encode(raw).decode()})
    await _issued_to(response, store, "web")


@pytest.mark.rule("token.client-auth.basic")
async def test_basic_auth_splits_on_the_first_colon(
    client: httpx.AsyncClient, store: TokenStore, web: RegisteredClient
) -> None:
    await store.save_client(replace(web.client, secret_hash=hash_client_secret("a:b:c")))
    raw = base64.b64encode(b"web:a:b:c").decode()
    response = await client.post(TOKEN_PATH, data=CC, headers={"Authorization": f"Basic {raw}"})
    await _issued_to(response, store, "web")


@pytest.mark.parametrize("scheme", ["Basic", "basic", "BASIC"])
@pytest.mark.rule("token.client-auth.basic")
async def test_basic_scheme_is_case_insensitive(
    client: httpx.AsyncClient, store: TokenStore, web: RegisteredClient, scheme: str
) -> None:
    header = auth_of(web)["Authorization"].replace("Basic", scheme)
    response = await client.post(TOKEN_PATH, data=CC, headers={"Authorization": header})
    await _issued_to(response, store, "web")


@pytest.mark.rule("token.client-auth.post")
async def test_client_secret_post_works(
    client: httpx.AsyncClient, store: TokenStore, web: RegisteredClient
) -> None:
    response = await client.post(TOKEN_PATH, data={**CC, "client_id": "web",
                                                   "client_secret": _secret(web)})
    await _issued_to(response, store, "web")


@pytest.mark.rule("token.client-auth.post")
async def test_both_methods_at_once_is_invalid_request(
    client: httpx.AsyncClient, web: RegisteredClient
) -> None:
    response = await client.post(TOKEN_PATH, headers=auth_of(web),
                                 data={**CC, "client_id": "web", "client_secret": _secret(web)})
    body = assert_error(response, 400, "invalid_request")
    assert body["error_description"] == "Use one client authentication method, not two."


@pytest.mark.rule("token.client-auth.post")
async def test_client_id_in_body_must_match_the_basic_header(
    client: httpx.AsyncClient, store: TokenStore, web: RegisteredClient
) -> None:
    await confidential(store, "evil")
    same = await client.post(TOKEN_PATH, headers=auth_of(web), data={**CC, "client_id": "web"})
    other = await client.post(TOKEN_PATH, headers=auth_of(web), data={**CC, "client_id": "evil"})
    await _issued_to(same, store, "web")
    body = assert_error(other, 400, "invalid_request")
    assert body["error_description"] == "The client_id does not match the Authorization header."
    assert await failures(store, "client", "evil") == (0, 0)


@pytest.mark.rule("token.client-auth.failure")
async def test_unknown_client_and_wrong_secret_look_identical(
    client: httpx.AsyncClient, web: RegisteredClient
) -> None:
    unknown = await client.post(TOKEN_PATH, data=CC, headers=basic("nobody", _secret(web)))
    wrong = await client.post(TOKEN_PATH, data=CC, headers=basic("web", "wrong"))
    post_unknown = await client.post(TOKEN_PATH, data={**CC, "client_id": "nobody",
                                                       "client_secret": "x"})
    for response in (unknown, wrong, post_unknown):
        assert_invalid_client(response)
    assert unknown.content == wrong.content == post_unknown.content
    assert dict(unknown.headers) == dict(wrong.headers)


@pytest.mark.rule("token.client-auth.failure", "rest.constant-time")
async def test_every_client_authentication_checks_one_secret_hash_known_client_or_not(
    client: httpx.AsyncClient, store: TokenStore, web: RegisteredClient,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An unknown client's secret is checked against a dummy hash of the same kind:
    skipping that check would answer unknown ids faster, telling which ids exist."""
    checked: list[str | None] = []

    def counting(stored: str | None, secret: str) -> bool:
        checked.append(stored)
        return verify_client_secret(stored, secret)

    monkeypatch.setattr(client_auth, "verify_client_secret", counting)
    await public(store)
    attempts = {
        "unknown by Basic": basic("nobody", "guess"),
        "unknown by post": {"client_id": "nobody", "client_secret": "guess"},
        "public client with a secret": basic("spa", "guess"),
        "wrong secret": basic("web", "guess"),
        "right secret": auth_of(web),
    }
    record = await store.get_client("web")
    assert record is not None
    stored_web = record.secret_hash
    for name, credentials in attempts.items():
        checked.clear()
        headers = credentials if "Authorization" in credentials else {}
        data = {**CC, **credentials} if not headers else CC
        response = await client.post(TOKEN_PATH, data=data, headers=headers)
        assert len(checked) == 1, name
        method, salt, value = str(checked[0]).split("$")
        assert (method, len(salt), len(value)) == ("sha256", 32, 64), name
        assert (checked == [stored_web]) == (name in ("wrong secret", "right secret")), name
        if name == "right secret":
            await _issued_to(response, store, "web")
        else:
            assert_invalid_client(response)


@pytest.mark.rule("token.client-auth.failure")
async def test_no_credentials_at_all_is_invalid_client(client: httpx.AsyncClient) -> None:
    assert_invalid_client(await client.post(TOKEN_PATH, data=CC))


@pytest.mark.rule("token.client-auth.failure")
async def test_confidential_client_without_its_secret_is_invalid_client(
    client: httpx.AsyncClient, web: RegisteredClient
) -> None:
    assert_invalid_client(await client.post(TOKEN_PATH, data={**CC, "client_id": "web"}))
    assert_invalid_client(await client.post(TOKEN_PATH, data=CC, headers=basic("web", "")))


@pytest.mark.parametrize("header", [
    "Basic",
    "Basic ",
    "Basic !!!notbase64",
    "Basic " + base64.b64encode(b"no-colon-here").decode(),
    "Basic " + base64.b64encode(b":secret-without-id").decode(),
    "Basic " + base64.b64encode(b"web:\xff\xfe").decode(),
    "Basic " + base64.b64encode(b"web:bad%zzescape").decode(),
    "Basic " + base64.b64encode(b"w%00b:x").decode(),
    "Basic dGVzdDp0ZXN0=",   # wrong padding
])
@pytest.mark.rule("token.client-auth.failure")
async def test_malformed_basic_header_is_401_never_500(
    client: httpx.AsyncClient, web: RegisteredClient, header: str
) -> None:
    assert_invalid_client(await client.post(TOKEN_PATH, data=CC,
                                            headers={"Authorization": header}))


@pytest.mark.rule("token.client-auth.failure", "abuse.malformed-400")
async def test_non_ascii_authorization_header_is_401(
    client: httpx.AsyncClient, web: RegisteredClient
) -> None:
    response = await client.post(TOKEN_PATH, data=CC,
                                 headers=[(b"Authorization", b"Basic \xff\xfe\xfd")])
    assert_invalid_client(response)


@pytest.mark.rule("token.client-auth.failure")
async def test_two_authorization_headers_are_invalid_request(
    client: httpx.AsyncClient, web: RegisteredClient
) -> None:
    header = auth_of(web)["Authorization"].encode()
    response = await client.post(TOKEN_PATH, data=CC, headers=[
        (b"Authorization", header), (b"Authorization", header)])
    body = assert_error(response, 400, "invalid_request")
    assert body["error_description"] == "More than one Authorization header."


@pytest.mark.rule("token.client-auth.public")
async def test_public_client_authenticates_by_client_id_for_code_with_pkce(
    client: httpx.AsyncClient, store: TokenStore
) -> None:
    await public(store)
    code = await new_code(store, "spa")
    response = await client.post(TOKEN_PATH, data=code_form(code, client_id="spa"))
    await _issued_to(response, store, "spa")


@pytest.mark.rule("token.client-auth.public")
async def test_public_client_sending_a_secret_is_invalid_client(
    client: httpx.AsyncClient, store: TokenStore
) -> None:
    await public(store)
    code = await new_code(store, "spa")
    response = await client.post(TOKEN_PATH, data=code_form(code, client_id="spa",
                                                             client_secret="guess"))
    assert_invalid_client(response)


@pytest.mark.rule("token.client-auth.public", "token.client-credentials")
async def test_public_client_on_client_credentials_is_unauthorized_client(
    client: httpx.AsyncClient, store: TokenStore
) -> None:
    """oauthost issued a token here; RFC 6749 §4.4 says confidential clients only."""
    await public(store)
    response = await client.post(TOKEN_PATH, data={**CC, "client_id": "spa"})
    assert_error(response, 400, "unauthorized_client")


@pytest.mark.rule("token.client-auth.public")
async def test_public_client_never_gets_secret_grants_even_if_its_record_lists_them(
    client: httpx.AsyncClient, store: TokenStore
) -> None:
    spa = (await public(store)).client
    await store.save_client(replace(spa, grant_types=("client_credentials", "password")))
    for grant_type in ("client_credentials", "password"):
        response = await client.post(TOKEN_PATH, data={
            "grant_type": grant_type, "client_id": "spa", "username": "a", "password": "b"})
        assert_error(response, 400, "unauthorized_client")


@pytest.mark.parametrize("client_id", ["we b", "web/../x", "w" * 200, "wéb"])
@pytest.mark.rule("token.client-auth.failure")
async def test_client_ids_outside_the_registered_alphabet_are_invalid_client(
    client: httpx.AsyncClient, client_id: str
) -> None:
    assert_invalid_client(await client.post(TOKEN_PATH, data={**CC, "client_id": client_id,
                                                               "client_secret": "x"}))


@pytest.mark.rule("abuse.throttle")
async def test_failed_client_authentications_are_throttled_until_the_window_ends(
    client: httpx.AsyncClient, store: TokenStore, web: RegisteredClient, clock: FakeClock
) -> None:
    for _ in range(3):
        assert_invalid_client(await client.post(TOKEN_PATH, data=CC,
                                                headers=basic("web", "guess")))
    for headers in (basic("web", "guess"), auth_of(web)):
        throttled = await client.post(TOKEN_PATH, data=CC, headers=headers)
        assert_error(throttled, 429, "slow_down")
        assert 0 < int(throttled.headers["retry-after"]) <= 60
    for path in (REVOKE_PATH, INTROSPECT_PATH):
        response = await client.post(path, data={"token": "x"}, headers=auth_of(web))
        assert_error(response, 429, "slow_down")
    clock.advance(61)
    response = await client.post(TOKEN_PATH, data=CC, headers=auth_of(web))
    await _issued_to(response, store, "web")


@pytest.mark.rule("abuse.throttle", "abuse.throttle.no-lockout")
async def test_throttle_counts_per_client_and_address_and_a_success_forgets_nothing(
    client: httpx.AsyncClient, store: TokenStore, web: RegisteredClient
) -> None:
    """A success resets nothing: a guesser sharing an address with a busy client would
    otherwise get a fresh allowance from each of its successes."""
    other = await confidential(store, "other")
    for _ in range(2):
        assert_invalid_client(await client.post(TOKEN_PATH, data=CC,
                                                headers=basic("web", "guess")))
    await _issued_to(await client.post(TOKEN_PATH, data=CC, headers=auth_of(web)), store, "web")
    assert (await failures(store, "client", "web", "127.0.0.1"))[0] == 2
    assert (await failures(store, "client", "web"))[0] == 2
    assert_invalid_client(await client.post(TOKEN_PATH, data=CC, headers=basic("web", "guess")))
    await _issued_to(await client.post(TOKEN_PATH, data=CC, headers=auth_of(other)), store,
                     "other")
    assert_error(await client.post(TOKEN_PATH, data=CC, headers=auth_of(web)), 429, "slow_down")


@pytest.mark.rule("abuse.throttle")
async def test_unknown_client_ids_are_throttled_too(client: httpx.AsyncClient) -> None:
    for _ in range(3):
        assert_invalid_client(await client.post(TOKEN_PATH, data=CC,
                                                headers=basic("ghost", "x")))
    assert_error(await client.post(TOKEN_PATH, data=CC, headers=basic("ghost", "x")),
                 429, "slow_down")


@pytest.mark.rule("token.client-auth.url-safe-ids")
async def test_generated_client_ids_and_secrets_are_url_safe_and_work_in_basic(
    client: httpx.AsyncClient, store: TokenStore
) -> None:
    """URL-safe characters survive a Basic header whether or not the client URL-encodes."""
    registered = await register_client(store, "Generated", None, "https://app.example/cb",
                                       public=False, scopes_list=["read"])
    client_id, secret = registered.client.client_id, _secret(registered)
    assert is_urlsafe(client_id) and is_urlsafe(secret) and len(secret) >= 43
    raw = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    response = await client.post(TOKEN_PATH, data=CC, headers={"Authorization": f"Basic {raw}"})
    await _issued_to(response, store, client_id)


@pytest.mark.rule("token.client-auth.failure")
async def test_basic_credentials_must_be_strict_base64(
    client: httpx.AsyncClient, web: RegisteredClient
) -> None:
    """A decoder that skips characters outside the alphabet would accept this header."""
    encoded = base64.b64encode(f"web:{_secret(web)}".encode()).decode()
    for header in (f"Basic {encoded[:4]}!{encoded[4:]}", f"Basic {encoded[:4]} {encoded[4:]}"):
        assert_invalid_client(await client.post(TOKEN_PATH, data=CC,
                                                headers={"Authorization": header}))


@pytest.mark.rule("rest.no-secret-in-logs")
async def test_a_failed_client_authentication_is_logged_by_method_and_id_never_the_secret(
    client: httpx.AsyncClient, store: TokenStore, web: RegisteredClient,
    caplog: pytest.LogCaptureFixture,
) -> None:
    await public(store)
    caplog.set_level(logging.INFO, logger="oauth_middleware.server")
    guess = "guessed-secret-value"
    await client.post(TOKEN_PATH, data=CC, headers=basic("web", guess))
    await client.post(TOKEN_PATH, data={**CC, "client_id": "web", "client_secret": guess})
    await client.post(TOKEN_PATH, data={**CC, "client_id": "spa", "client_secret": guess})
    await client.post(TOKEN_PATH, data={**CC, "client_id": "web"})
    await client.post(TOKEN_PATH, data=CC, headers=basic("x" * 100, guess))
    lines = [r.getMessage() for r in caplog.records
             if r.getMessage().startswith("client authentication failed")]
    assert lines == [
        "client authentication failed (client_secret_basic) for 'web'",
        "client authentication failed (client_secret_post) for 'web'",
        "client authentication failed (client_secret_post) for 'spa'",
        "client authentication failed (none) for 'web'",
        # An unknown id may be a secret pasted where the id goes: a fingerprint only.
        "client authentication failed (client_secret_basic) for an unknown client "
        + fingerprint("x" * 100),
    ]
    assert guess not in caplog.text
