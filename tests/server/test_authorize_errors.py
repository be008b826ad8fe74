"""auth/: errors that travel to the client by redirect, and the login step (RFC 6749 §4.1.2.1).

Once client and redirect URI are verified, errors go back as a 303 with
``error`` and ``state`` (query for ``code``, fragment for ``token``). Before any
of them, an anonymous user is sent to the login page.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from urllib.parse import parse_qs, quote, urlencode, urlsplit

import pytest
from starlette.requests import Request

from oauth_middleware import TokenStore, register_client
from tests.server.authorize_harness import (
    CHALLENGE,
    SPA_REDIRECT,
    WEB_REDIRECT,
    Harness,
    answer,
    open_harness,
    read_page,
)
from tests.store_helpers import redis_of

WEB = {"client_id": "web", "redirect_uri": WEB_REDIRECT}
SPA = {"client_id": "spa", "redirect_uri": SPA_REDIRECT,
       "code_challenge": CHALLENGE, "code_challenge_method": "S256"}


@pytest.fixture
async def harness(store: TokenStore) -> AsyncIterator[Harness]:
    async with open_harness(store) as h:
        yield h


def _error(response_and_where: tuple[str, str, dict[str, str]], where: str = "query") -> str:
    _, got_where, params = response_and_where
    assert got_where == where
    assert set(params) <= {"error", "error_description", "state"}
    assert params["error_description"]
    return params["error"]


@pytest.mark.rule("auth.error.codes")
async def test_missing_response_type_is_invalid_request_by_redirect(harness: Harness) -> None:
    # oauthost answered a missing response_type with unsupported_response_type.
    base, where, params = answer(await harness.authorize(state="s1", scope="polls:read", **WEB))
    assert (base, where) == (WEB_REDIRECT, "query")
    assert params["error"] == "invalid_request"
    assert params["state"] == "s1"


@pytest.mark.parametrize("response_type", ["id_token", "code token", "CODE", "device_code"])
@pytest.mark.rule("auth.error.codes")
async def test_unknown_response_type_is_unsupported_response_type(
    harness: Harness, response_type: str
) -> None:
    response = await harness.authorize(response_type=response_type, state="s", **WEB)
    assert _error(answer(response)) == "unsupported_response_type"


@pytest.mark.parametrize("name", ["response_type", "scope", "state", "code_challenge",
                                  "code_challenge_method"])
@pytest.mark.rule("auth.params.empty-unknown-repeated")
async def test_a_repeated_parameter_is_invalid_request(harness: Harness, name: str) -> None:
    values = {"response_type": "code", "scope": "polls:read", "state": "s1",
              "code_challenge": CHALLENGE, "code_challenge_method": "S256"}
    query = urlencode({**WEB, **values}) + "&" + urlencode({name: values[name]})
    base, where, params = answer(await harness.authorize_raw(query))
    assert (base, where, params["error"]) == (WEB_REDIRECT, "query", "invalid_request")
    assert name in params["error_description"]
    # A repeated state is ambiguous: it is not echoed rather than guessed.
    assert params.get("state") == (None if name == "state" else "s1")


@pytest.mark.rule("auth.params.empty-unknown-repeated")
async def test_a_repeated_implicit_response_type_answers_in_the_fragment(
    harness: Harness
) -> None:
    query = urlencode({**SPA, "state": "s1"}) + "&response_type=token&response_type=token"
    base, where, params = answer(await harness.authorize_raw(query))
    assert (base, where, params["error"]) == (SPA_REDIRECT, "fragment", "invalid_request")
    assert params["state"] == "s1"


@pytest.mark.rule("auth.params.empty-unknown-repeated")
async def test_empty_parameters_count_as_omitted(harness: Harness) -> None:
    query = "client_id=web&redirect_uri=&response_type=code&scope=&state=&code_challenge="
    response = await harness.authorize_raw(query)
    assert response.status_code == 200  # no redirect_uri: the one registered; no scope: default
    missing = answer(await harness.authorize_raw("client_id=web&response_type=&state="))
    assert missing[2] == {"error": "invalid_request",
                          "error_description": "The response_type parameter is missing."}


@pytest.mark.rule("auth.params.empty-unknown-repeated")
async def test_unknown_parameters_are_ignored_even_when_repeated(harness: Harness) -> None:
    response = await harness.authorize_raw(
        "client_id=web&response_type=code&scope=polls%3Aread&foo=1&foo=2&nonce=n&prompt=login"
    )
    assert response.status_code == 200


@pytest.mark.rule("auth.error.codes")
async def test_client_without_the_code_grant_gets_unauthorized_client(harness: Harness) -> None:
    await register_client(harness.store, "Machine", "machine", WEB_REDIRECT, public=False,
                          grant_types=["client_credentials"], scopes_list=["polls:read"],
                          register_unknown_scopes=False)
    response = await harness.authorize(client_id="machine", response_type="code", state="s")
    assert _error(answer(response)) == "unauthorized_client"
    assert answer(response)[2]["error_description"] == "The client may not use this response type."


@pytest.mark.rule("auth.error.codes", "auth.implicit")
async def test_implicit_for_a_client_not_allowed_it_is_unauthorized_client_in_the_fragment(
    harness: Harness
) -> None:
    response = await harness.authorize(response_type="token", state="s", **WEB)
    base, where, params = answer(response)
    assert (base, _error((base, where, params), "fragment")) == (WEB_REDIRECT,
                                                                  "unauthorized_client")
    assert params["state"] == "s"


@pytest.mark.rule("auth.error.codes")
async def test_implicit_is_unsupported_when_the_server_disables_it(store: TokenStore) -> None:
    grants = ["authorization_code", "refresh_token", "client_credentials"]
    async with open_harness(store, grants=grants) as harness:
        response = await harness.authorize(response_type="token", state="s", **SPA)
        assert _error(answer(response), "fragment") == "unsupported_response_type"


@pytest.mark.rule("auth.error.codes")
async def test_code_is_unsupported_when_the_server_disables_it(store: TokenStore) -> None:
    async with open_harness(store, grants=["client_credentials"]) as harness:
        response = await harness.authorize(response_type="code", state="s", **WEB)
        assert _error(answer(response)) == "unsupported_response_type"


@pytest.mark.parametrize("scope", [
    "polls:unknown",
    "polls:secret",  # registered but disabled: grants nothing
    "polls:read polls:secret",
    "polls:read admin:all",
    'bad"scope',
    "polls:read\\",
])
@pytest.mark.rule("auth.error.codes")
async def test_unknown_disabled_or_foreign_scope_is_invalid_scope(
    harness: Harness, scope: str
) -> None:
    response = await harness.authorize(response_type="code", scope=scope, state="s", **WEB)
    assert _error(answer(response)) == "invalid_scope"
    assert await harness.code_keys() == []


@pytest.mark.parametrize("scope", ['bad"scope', "polls:read\\", "polls:read\u00a0polls:vote"])
@pytest.mark.rule("auth.error.codes")
async def test_a_malformed_scope_is_invalid_scope_saying_so(harness: Harness, scope: str) -> None:
    """RFC 6749 §3.3: scope tokens are %x21 / %x23-5B / %x5D-7E, delimited by %x20 only (a
    no-break space is neither)."""
    response = await harness.authorize(response_type="code", scope=scope, state="s", **WEB)
    assert _error(answer(response)) == "invalid_scope"
    assert answer(response)[2]["error_description"] == "The scope parameter is malformed."
    assert await harness.code_keys() == []


@pytest.mark.rule("auth.error.codes")
async def test_disabled_scope_is_refused_for_a_client_without_a_scope_list(
    harness: Harness
) -> None:
    # oauthost granted disabled scopes to clients with no scope restriction.
    await register_client(harness.store, "Open", "open", WEB_REDIRECT, public=False)
    refused = await harness.authorize(client_id="open", response_type="code",
                                      scope="polls:secret", state="s")
    assert _error(answer(refused)) == "invalid_scope"
    no_default = await harness.authorize(client_id="open", response_type="code", state="s")
    assert _error(answer(no_default)) == "invalid_scope"
    allowed = await harness.authorize(client_id="open", response_type="code", scope="polls:vote")
    assert allowed.status_code == 200


STATES = [
    "a b", "a+b", "ü€😀", "&code=forged", "#fragment", "%41", "%", "a=b", "?x=1", "'\"<>",
    "/\\", " leading and trailing ", "x" * 4096,
]


@pytest.mark.parametrize("state", STATES)
@pytest.mark.rule("auth.state.round-trip")
async def test_state_round_trips_byte_exact_on_an_error(harness: Harness, state: str) -> None:
    response = await harness.authorize(state=state, scope="polls:read", **WEB)  # no response_type
    location = response.headers["location"]
    assert location.startswith(WEB_REDIRECT + "?error=invalid_request&")
    _, _, params = answer(response)
    assert set(params) == {"error", "error_description", "state"}
    assert params["state"] == state
    assert location.endswith("&state=" + quote(state, safe=""))


@pytest.mark.parametrize("state", STATES)
@pytest.mark.rule("auth.state.round-trip")
async def test_state_round_trips_byte_exact_in_the_fragment(harness: Harness, state: str) -> None:
    response = await harness.authorize(response_type="token", state=state, **WEB)
    base, where, params = answer(response)
    assert (base, where) == (WEB_REDIRECT, "fragment")
    assert params["state"] == state
    assert "?" not in response.headers["location"]


@pytest.mark.rule("auth.state.round-trip")
async def test_state_is_absent_when_not_sent(harness: Harness) -> None:
    _, _, params = answer(await harness.authorize(scope="polls:read", **WEB))
    assert "state" not in params


@pytest.mark.rule("auth.state.round-trip", "abuse.caps")
async def test_an_oversized_state_is_not_echoed(harness: Harness) -> None:
    _, _, params = answer(await harness.authorize(response_type="code", state="x" * 4097, **WEB))
    assert params["error"] == "invalid_request"
    assert "state" not in params


@pytest.mark.rule("responses.redirect.303")
async def test_error_redirects_are_303_uncacheable_without_referrer(harness: Harness) -> None:
    response = await harness.authorize(response_type="bogus", **WEB)
    assert response.status_code == 303
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.content == b""


@pytest.mark.rule("auth.redirect.registered-query-kept")
async def test_registered_redirect_uri_with_a_query_keeps_it_on_an_error(
    harness: Harness
) -> None:
    # oauthost appended "?error=..." to a URI that already had a query.
    registered = "https://client.example/cb?tenant=a%20b&x=1"
    await register_client(harness.store, "Tenant", "tenant", registered, public=False,
                          scopes_list=["polls:read"], register_unknown_scopes=False)
    response = await harness.authorize(client_id="tenant", response_type="nope", state="s&t")
    location = response.headers["location"]
    assert location.startswith(registered + "&error=unsupported_response_type&")
    query = parse_qs(urlsplit(location).query, strict_parsing=True)
    assert query["tenant"] == ["a b"] and query["x"] == ["1"] and query["state"] == ["s&t"]


@pytest.mark.rule("auth.login.before-errors")
async def test_anonymous_user_is_sent_to_login_with_next(harness: Harness) -> None:
    query = urlencode({"response_type": "code", "state": "a b&c", **WEB})
    response = await harness.authorize_raw(query, user=None)
    assert response.status_code == 303
    assert response.headers["cache-control"] == "no-store"
    location = response.headers["location"]
    assert location == "/login?next=" + quote(f"/oauth/auth/?{query}", safe="")
    assert parse_qs(urlsplit(location).query) == {"next": [f"/oauth/auth/?{query}"]}
    assert await redis_of(harness.store).keys(f"{harness.store.keys.prefix}txn:*") == []


@pytest.mark.parametrize("params", [
    {"response_type": "bogus"},
    {"response_type": "code", "scope": "polls:secret"},
    {"response_type": "token"},
    {"scope": "polls:read"},
])
@pytest.mark.rule("auth.login.before-errors")
async def test_anonymous_user_goes_to_login_before_any_error_is_redirected(
    harness: Harness, params: dict[str, str]
) -> None:
    response = await harness.authorize(None, **WEB, **params)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login?next=")


@pytest.mark.rule("auth.login.before-errors")
async def test_login_url_with_a_query_keeps_it(store: TokenStore) -> None:
    async with open_harness(store, login_url="/accounts/login?lang=en") as harness:
        response = await harness.authorize(None, response_type="code", **WEB)
        location = response.headers["location"]
        assert location.startswith("/accounts/login?lang=en&next=%2Foauth%2Fauth%2F%3F")


@pytest.mark.rule("auth.login.before-errors")
async def test_logging_in_returns_to_the_consent_page(harness: Harness) -> None:
    query = urlencode({"response_type": "code", "scope": "polls:read", "state": "s", **WEB})
    to_login = await harness.authorize_raw(query, user=None)
    login_page = await harness.http.get(to_login.headers["location"])
    assert login_page.status_code == 200
    back = await harness.http.post("/login", data={
        "username": "carol", "next": f"/oauth/auth/?{query}"})
    assert back.status_code == 303 and back.headers["location"] == f"/oauth/auth/?{query}"
    consent = await harness.http.get(back.headers["location"])
    assert consent.status_code == 200
    assert "Signed in as carol" in read_page(consent.text).text


def _header_user(request: Request) -> str | None:
    return request.headers.get("x-api-user")


async def _async_header_user(request: Request) -> str | None:
    return request.headers.get("x-api-user")


@pytest.mark.parametrize("hook", [_header_user, _async_header_user])
async def test_a_custom_authenticate_hook_decides_who_the_user_is(
    store: TokenStore, hook: object
) -> None:
    async with open_harness(store, authenticate=hook) as harness:
        params = {"response_type": "code", "scope": "polls:read", **WEB}
        anonymous = await harness.authorize(**params)  # the session/header user is ignored
        assert anonymous.headers["location"].startswith("/login?next=")
        known = await harness.get_auth(params, user=None, headers={"x-api-user": "dave"})
        assert known.status_code == 200
        assert "Signed in as dave" in read_page(known.text).text
