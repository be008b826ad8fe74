"""auth/: what is refused with a page, never a redirect (RFC 6749 §3.1, §3.1.2.4, §4.1.2.1).

Until ``client_id`` and ``redirect_uri`` are both verified, nothing may be sent
to the redirect URI; malformed input and plain HTTP are pages too.
"""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator
from urllib.parse import urlencode

import pytest

from oauth_middleware import TokenStore, register_client
from oauth_middleware.redirects import MAX_REDIRECT_URI_LENGTH
from tests.page_headers import assert_page_headers
from tests.server.authorize_harness import (
    CHALLENGE,
    ISSUER,
    WEB_REDIRECT,
    Harness,
    answer,
    assert_page,
    open_harness,
)
from tests.store_helpers import get_code, redis_of

CODE = {"response_type": "code", "state": "xyz", "scope": "polls:read"}


def _says(page_text: str, description: str) -> bool:
    """The error page shows exactly ``description`` for an ``invalid_request``."""
    return f"cannot be completed {description} Error: invalid_request (HTTP 400)" in page_text


@pytest.fixture
async def harness(store: TokenStore) -> AsyncIterator[Harness]:
    async with open_harness(store) as h:
        yield h


async def _nothing_pending(harness: Harness) -> None:
    keys = await redis_of(harness.store).keys(f"{harness.store.keys.prefix}txn:*")
    assert keys == []


@pytest.mark.parametrize(("query", "description"), [
    ("response_type=code&state=s", "The client_id parameter is missing."),
    ("response_type=code&client_id=&state=s", "The client_id parameter is missing."),
    ("response_type=code&client_id=nope&state=s", "The client is unknown."),
    ("response_type=code&client_id=%3Cscript%3E&state=s", "The client is unknown."),
    ("response_type=code&client_id=web&client_id=web&state=s",
     "The client_id or redirect_uri parameter is repeated."),
    ("response_type=code&client_id=web&client_id=spa&state=s",
     "The client_id or redirect_uri parameter is repeated."),
])
@pytest.mark.rule("auth.client-first")
async def test_missing_unknown_or_repeated_client_gets_a_page_not_a_redirect(
    harness: Harness, query: str, description: str
) -> None:
    uri = "https%3A%2F%2Fclient.example%2Fcb"
    response = await harness.authorize_raw(f"{query}&redirect_uri={uri}")
    page = assert_page(response, 400)
    assert _says(page.text, description)
    assert "<script>" not in response.text
    await _nothing_pending(harness)


@pytest.mark.parametrize("requested", [
    "https://client.example/cb/",
    "https://CLIENT.example/cb",
    "https://client.example/CB",
    "https://client.example/cb?x=1",
    "https://client.example/cb#frag",
    "https://client.example/cbx",
    "https://client.example/c",
    "http://client.example/cb",
    "https://client.example:443/cb",
    "https://client.example/cb/../cb",
    "https://client.example/cb%2F",
    "https://client.example.evil.example/cb",
    "https://evil.example/cb",
    "https://evil.example/?https://client.example/cb",
])
@pytest.mark.rule("auth.client-first", "auth.redirect.exact-match")
async def test_redirect_uri_must_match_a_registered_one_exactly(
    harness: Harness, requested: str
) -> None:
    response = await harness.authorize(client_id="web", redirect_uri=requested, **CODE)
    page = assert_page(response, 400)
    assert _says(page.text, "The redirect_uri is not registered for this client.")
    await _nothing_pending(harness)


@pytest.mark.rule("auth.client-first")
async def test_repeated_redirect_uri_gets_a_page_even_with_equal_values(harness: Harness) -> None:
    uri = "https%3A%2F%2Fclient.example%2Fcb"
    response = await harness.authorize_raw(
        f"response_type=code&client_id=web&redirect_uri={uri}&redirect_uri={uri}&state=s"
    )
    assert _says(assert_page(response, 400).text,
                 "The client_id or redirect_uri parameter is repeated.")


@pytest.mark.rule("auth.client-first")
async def test_missing_redirect_uri_with_several_registered_gets_a_page(harness: Harness) -> None:
    await register_client(harness.store, "Two Homes", "two", [WEB_REDIRECT, "https://b.example/cb"],
                          scopes_list=["polls:read"], register_unknown_scopes=False)
    response = await harness.authorize(client_id="two", code_challenge=CHALLENGE,
                                       code_challenge_method="S256", **CODE)
    assert _says(assert_page(response, 400).text, "The redirect_uri parameter is missing.")


@pytest.mark.rule("auth.redirect.exact-match")
async def test_a_redirect_uri_of_the_longest_registrable_length_is_accepted(
    harness: Harness
) -> None:
    longest = "https://client.example/" + "a" * (MAX_REDIRECT_URI_LENGTH - 23)
    assert len(longest) == MAX_REDIRECT_URI_LENGTH
    await register_client(harness.store, "Long", "long", longest, scopes_list=["polls:read"],
                          register_unknown_scopes=False)
    page = await harness.consent(client_id="long", redirect_uri=longest,
                                 code_challenge=CHALLENGE, code_challenge_method="S256", **CODE)
    assert answer(await harness.decide(page))[0] == longest


@pytest.mark.rule("auth.redirect.exact-match")
async def test_missing_redirect_uri_with_one_registered_uses_it(harness: Harness) -> None:
    page = await harness.consent(client_id="web", **CODE)
    base, where, params = answer(await harness.decide(page))
    assert (base, where) == (WEB_REDIRECT, "query")
    record = await get_code(harness.store, params["code"])
    assert record is not None
    assert record.redirect_uri == WEB_REDIRECT
    assert record.redirect_uri_explicit is False


@pytest.mark.rule("auth.redirect.exact-match")
async def test_loopback_ip_redirect_uri_may_use_any_port_but_a_loopback_name_may_not(
    harness: Harness
) -> None:
    await register_client(harness.store, "Desktop", "desk",
                          ["http://127.0.0.1/cb", "http://localhost/cb"],
                          scopes_list=["polls:read"], register_unknown_scopes=False)
    pkce = {"code_challenge": CHALLENGE, "code_challenge_method": "S256"}
    page = await harness.consent(client_id="desk", redirect_uri="http://127.0.0.1:53121/cb",
                                 **pkce, **CODE)
    base, _, params = answer(await harness.decide(page))
    assert base == "http://127.0.0.1:53121/cb"
    record = await get_code(harness.store, params["code"])
    assert record is not None and record.redirect_uri == "http://127.0.0.1:53121/cb"
    refused = await harness.authorize(client_id="desk", redirect_uri="http://localhost:8000/cb",
                                      **pkce, **CODE)
    assert_page(refused, 400)


@pytest.mark.parametrize("requested", [
    "http://127.0.0.1:53121/callback#", "http://127.0.0.1:53121/callback?#",
    "http://127.0.0.1:53121/callback?", " http://127.0.0.1:53121/callback",
    "HTTP://127.0.0.1:53121/callback", "http://127.0.0.1:53121/callback/",
    "http://127.0.0.1:/callback", "http://127.0.0.1:99999/callback",
    "http://127.0.0.1:53121@evil.example/callback",
])
@pytest.mark.rule("auth.redirect.exact-match", "auth.client-first")
async def test_a_loopback_redirect_uri_differing_in_more_than_its_port_gets_a_page(
    harness: Harness, requested: str
) -> None:
    """urlsplit strips a leading space and a tab, lower-cases the scheme and drops an
    empty query or fragment: matching reads the raw strings, with only the port taken out."""
    await register_client(harness.store, "Desktop", "desk", ["http://127.0.0.1/callback"],
                          scopes_list=["polls:read"], register_unknown_scopes=False)
    response = await harness.authorize(client_id="desk", redirect_uri=requested,
                                       code_challenge=CHALLENGE, code_challenge_method="S256",
                                       **CODE)
    page = assert_page(response, 400)
    assert _says(page.text, "The redirect_uri is not registered for this client.")
    await _nothing_pending(harness)


@pytest.mark.parametrize("query", [
    b"client_id=web&state=%zz",
    b"client_id=web&state=%",
    b"client_id=web&state=ab%4",
    b"client_id=web&state=%00",
    b"client_id=web&state=a%0Ab",
    b"client_id=web&state=%7F",
    b"client_id=web&state=%FF",
    b"client_id=web&state=%C3%28",
    b"client_id=web&state=%ED%A0%80",
    b"client_id=web&state=\xff",
    b"client_id=web&state=\xc3\xbc",
    b"client_id=web&state=a\x00b",
    b"client_id=w%zzeb&response_type=code",
    b"client_id=web&%zz=1",
])
@pytest.mark.rule("abuse.malformed-400")
async def test_malformed_query_gets_a_400_page_never_500(harness: Harness, query: bytes) -> None:
    status, headers, body = await harness.asgi_get(query + b"&response_type=code")
    assert status == 400
    assert "location" not in headers
    assert_page_headers(headers)
    assert "invalid_request" in body
    await _nothing_pending(harness)


@pytest.mark.rule("abuse.caps")
async def test_oversized_query_gets_a_413_page(harness: Harness) -> None:
    response = await harness.authorize(client_id="web", response_type="code", state="a" * 30_000)
    assert "too long" in assert_page(response, 413).text


@pytest.mark.rule("abuse.caps")
async def test_too_many_parameters_get_a_400_page(harness: Harness) -> None:
    query = "&".join(f"p{i}=1" for i in range(100))
    response = await harness.authorize_raw(f"client_id=web&response_type=code&{query}")
    assert "too many parameters" in assert_page(response, 400).text


@pytest.mark.rule("transport.https")
async def test_plain_http_is_refused_outside_debug_with_a_page(store: TokenStore) -> None:
    async with open_harness(store, base_url="http://testserver") as harness:
        response = await harness.authorize(client_id="web", **CODE)
        assert "HTTPS is required" in assert_page(response, 400).text
        posted = await harness.http.post("/oauth/auth/", data={"decision": "approve"})
        assert "HTTPS is required" in assert_page(posted, 400).text
        await _nothing_pending(harness)


@pytest.mark.rule("transport.https")
async def test_debug_mode_serves_plain_http(store: TokenStore) -> None:
    async with open_harness(store, base_url="http://testserver", debug=True,
                            issuer="http://testserver/oauth") as harness:
        page = await harness.consent(client_id="web", **CODE)
        _, _, params = answer(await harness.decide(page, headers={"origin": "http://testserver"}),
                              issuer="http://testserver/oauth")
        assert await get_code(harness.store, params["code"]) is not None


@pytest.mark.rule("responses.redirect.303")
async def test_auth_answers_without_the_trailing_slash_and_never_slash_redirects(
    harness: Harness
) -> None:
    response = await harness.http.get("/oauth/auth?" + urlencode({"client_id": "web", **CODE}),
                                      headers={"x-test-user": "alice"})
    assert response.status_code == 200
    assert_page_headers(response)


@pytest.mark.rule("responses.auth.no-cors")
async def test_no_cors_on_auth(harness: Harness) -> None:
    evil = {"origin": "https://evil.example"}
    got = await harness.get_auth({"client_id": "web", **CODE}, headers=evil)
    assert got.status_code == 200
    assert not [h for h in got.headers if h.startswith("access-control-")]
    preflight = await harness.http.options("/oauth/auth/", headers={
        **evil, "access-control-request-method": "POST"})
    assert preflight.status_code == 405
    assert not [h for h in preflight.headers if h.startswith("access-control-")]


@pytest.mark.rule("responses.5xx-generic")
async def test_a_failing_authenticate_hook_gives_a_generic_500_page(
    store: TokenStore, caplog: pytest.LogCaptureFixture
) -> None:
    secret = "hunter" + "2"

    def broken(request: object) -> str:
        raise RuntimeError(f"database password={secret} unreachable")

    async with open_harness(store, authenticate=broken) as harness:
        with caplog.at_level(logging.ERROR):
            response = await harness.authorize(client_id="web", **CODE)
    page = assert_page(response, 500)
    assert "The server could not complete the request." in page.text
    assert "hunter2" not in response.text and "RuntimeError" not in response.text
    assert "RuntimeError" in caplog.text
    assert "hunter2" not in caplog.text


def test_a_missing_template_directory_is_refused_at_construction(store: TokenStore) -> None:
    from oauth_middleware.server import AuthorizationServer

    with pytest.raises(ValueError, match=re.escape(
            "templates='/nonexistent/templates' is not a directory: pass the folder holding "
            "your consent.html / error.html overrides")):
        AuthorizationServer(store=store, issuer=ISSUER, secret_key="k" * 32,
                            templates="/nonexistent/templates")


@pytest.mark.rule("responses.html.headers")
async def test_error_pages_carry_the_html_security_headers(harness: Harness) -> None:
    response = await harness.authorize(client_id="nope", **CODE)
    assert_page(response, 400)
    assert_page_headers(response)


@pytest.mark.rule("auth.client-first")
async def test_a_page_error_never_calls_the_redirect_uri_even_for_an_anonymous_user(
    harness: Harness
) -> None:
    response = await harness.authorize(None, client_id="web", redirect_uri="https://evil.example/",
                                       **CODE)
    assert_page(response, 400)


@pytest.mark.parametrize("method", ["PUT", "DELETE", "PATCH", "OPTIONS", "BREW"])
@pytest.mark.parametrize("path", ["/oauth/auth/", "/oauth/auth"])
async def test_other_methods_are_refused_with_the_error_page(
    harness: Harness, method: str, path: str
) -> None:
    response = await harness.http.request(method, path, headers={"x-test-user": "alice"})
    page = assert_page(response, 405)
    assert response.headers["allow"] == "GET, HEAD, POST"
    assert "invalid_request" in page.text
    await _nothing_pending(harness)


async def test_head_answers_as_get_would_but_stores_nothing(harness: Harness) -> None:
    query = {"client_id": "web", **CODE}
    head = await harness.http.head("/oauth/auth/", params=query,
                                   headers={"x-test-user": "alice"})
    assert head.status_code == 200
    assert head.headers["content-type"] == "text/html; charset=utf-8"
    assert_page_headers(head)
    await _nothing_pending(harness)
    anonymous = await harness.http.head("/oauth/auth/", params=query)
    assert anonymous.status_code == 303
    assert anonymous.headers["location"].startswith("/login?next=")
    wrong = await harness.http.head("/oauth/auth/", params={**query, "redirect_uri": "https://x.example/"},
                                    headers={"x-test-user": "alice"})
    assert wrong.status_code == 400
    await _nothing_pending(harness)
    # GET, by contrast, does store the pending request.
    assert_page(await harness.authorize(**query), 200)
    assert len(await redis_of(harness.store).keys(f"{harness.store.keys.prefix}txn:*")) == 1


@pytest.mark.rule("transport.configured-urls")
async def test_a_spoofed_host_changes_no_url_auth_builds(harness: Harness) -> None:
    query = {"client_id": "web", **CODE}
    evil = {"host": "evil.example"}
    login = await harness.get_auth(query, user=None, headers=evil)
    assert login.status_code == 303
    assert login.headers["location"].startswith("/login?next=%2Foauth%2Fauth%2F%3F")
    consent = await harness.get_auth(query, headers=evil)
    page = assert_page(consent, 200)
    assert page.forms[0]["action"] == "/oauth/auth/"
    assert "evil.example" not in consent.text
    # The decision is judged against the configured issuer's origin, not the Host header.
    refused = await harness.decide(page, headers={**evil, "origin": "https://evil.example"})
    assert_page(refused, 403)
    assert await harness.code_keys() == []
