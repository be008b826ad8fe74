"""The token-family boundary (SECURITY.md "Responses everywhere", "Token endpoint", "Transport").

Every malformed request is a JSON 4xx with no-store headers, never a 500 or HTML,
on ``token/``, ``revoke/`` and ``introspect/`` alike.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import httpx
import pytest
from starlette.applications import Starlette

from oauth_middleware.store import TokenStore
from oauth_middleware.toolbox import RegisteredClient
from tests.server.token_harness import (
    INTROSPECT_PATH,
    REVOKE_PATH,
    TOKEN_PATH,
    assert_error,
    assert_no_store,
    auth_of,
    build_app,
    confidential,
    http,
)

FORM_PATHS = [TOKEN_PATH, REVOKE_PATH, INTROSPECT_PATH]
CC = {"grant_type": "client_credentials"}


@pytest.mark.rule("responses.redirect.303")
async def test_token_endpoint_answers_with_and_without_trailing_slash_and_never_307(
    client: httpx.AsyncClient, web: RegisteredClient
) -> None:
    for path in ("/oauth/token/", "/oauth/token"):
        response = await client.post(path, data=CC, headers=auth_of(web))
        assert response.status_code == 200, response.text
        assert_no_store(response)
        assert response.json()["token_type"] == "Bearer"
    for path in ("/oauth/revoke", "/oauth/introspect"):
        response = await client.post(path, data={"token": "x"}, headers=auth_of(web))
        assert response.status_code == 200


@pytest.mark.parametrize("path", FORM_PATHS)
@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "HEAD", "OPTIONS"])
@pytest.mark.rule("token.post-only")
async def test_only_post_is_accepted(client: httpx.AsyncClient, path: str, method: str) -> None:
    response = await client.request(method, path)
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"
    assert_no_store(response)
    if method != "HEAD":
        assert response.json()["error"] == "invalid_request"


@pytest.mark.parametrize("path", FORM_PATHS)
@pytest.mark.rule("transport.https")
async def test_plain_http_is_refused_outside_debug_with_json(
    app: Starlette, web: RegisteredClient, path: str
) -> None:
    async with http(app, "http://testserver") as plain:
        response = await plain.post(path, data={**CC, "token": "x"}, headers=auth_of(web))
    body = assert_error(response, 400, "invalid_request")
    assert body["error_description"] == "HTTPS is required."


@pytest.mark.rule("transport.https")
async def test_debug_mode_allows_plain_http(store: TokenStore, web: RegisteredClient) -> None:
    async with http(build_app(store, debug=True), "http://127.0.0.1") as plain:
        response = await plain.post(TOKEN_PATH, data=CC, headers=auth_of(web))
    assert response.status_code == 200


@pytest.mark.parametrize("path", FORM_PATHS)
@pytest.mark.rule("token.form-only")
async def test_json_body_is_invalid_request(
    client: httpx.AsyncClient, web: RegisteredClient, path: str
) -> None:
    response = await client.post(path, json={**CC, "token": "x"}, headers=auth_of(web))
    body = assert_error(response, 400, "invalid_request")
    assert "x-www-form-urlencoded" in body["error_description"]


@pytest.mark.parametrize("content_type", [None, "text/plain", "multipart/form-data; boundary=x"])
@pytest.mark.rule("token.form-only")
async def test_other_content_types_are_invalid_request(
    client: httpx.AsyncClient, web: RegisteredClient, content_type: str | None
) -> None:
    headers = auth_of(web)
    if content_type is not None:
        headers["Content-Type"] = content_type
    response = await client.post(TOKEN_PATH, content=b"grant_type=client_credentials",
                                 headers=headers)
    assert_error(response, 400, "invalid_request")


@pytest.mark.rule("token.form-only")
async def test_form_content_type_with_charset_is_accepted(
    client: httpx.AsyncClient, web: RegisteredClient
) -> None:
    headers = {**auth_of(web),
               "Content-Type": "Application/X-WWW-Form-Urlencoded; charset=UTF-8"}
    response = await client.post(TOKEN_PATH, content=b"grant_type=client_credentials",
                                 headers=headers)
    assert response.status_code == 200


@pytest.mark.parametrize("query", ["grant_type=client_credentials", "client_secret=s",
                                   "code=abc", "token=abc", "access_token=abc"])
@pytest.mark.rule("token.no-query-params")
async def test_oauth_parameters_in_the_query_string_are_refused(
    client: httpx.AsyncClient, web: RegisteredClient, query: str
) -> None:
    response = await client.post(f"{TOKEN_PATH}?{query}", data=CC, headers=auth_of(web))
    assert_error(response, 400, "invalid_request")


@pytest.mark.rule("token.no-query-params")
async def test_unrelated_query_parameters_are_ignored(
    client: httpx.AsyncClient, web: RegisteredClient
) -> None:
    response = await client.post(f"{TOKEN_PATH}?trace=1", data=CC, headers=auth_of(web))
    assert response.status_code == 200


@pytest.mark.parametrize("path", FORM_PATHS)
@pytest.mark.rule("token.body-caps")
async def test_oversized_body_is_413_json(
    client: httpx.AsyncClient, web: RegisteredClient, path: str
) -> None:
    response = await client.post(path, content=b"grant_type=client_credentials&pad="
                                 + b"a" * 20_000, headers={
                                     **auth_of(web),
                                     "Content-Type": "application/x-www-form-urlencoded"})
    assert_error(response, 413, "invalid_request")


@pytest.mark.rule("token.body-caps")
async def test_oversized_streamed_body_without_length_is_413(
    client: httpx.AsyncClient, web: RegisteredClient
) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b"grant_type=client_credentials&pad="
        for _ in range(40):
            yield b"a" * 1000

    response = await client.post(TOKEN_PATH, content=chunks(), headers={
        **auth_of(web), "Content-Type": "application/x-www-form-urlencoded"})
    assert "content-length" not in response.request.headers
    assert_error(response, 413, "invalid_request")


@pytest.mark.rule("token.body-caps")
async def test_too_many_fields_is_invalid_request(
    client: httpx.AsyncClient, web: RegisteredClient
) -> None:
    data = {**CC, **{f"x{i}": "1" for i in range(40)}}
    body = assert_error(await client.post(TOKEN_PATH, data=data, headers=auth_of(web)),
                        400, "invalid_request")
    assert body["error_description"] == "The request has too many parameters."


@pytest.mark.rule("token.body-caps", "abuse.caps")
async def test_over_long_parameter_is_invalid_request(
    client: httpx.AsyncClient, web: RegisteredClient
) -> None:
    response = await client.post(TOKEN_PATH, data={**CC, "scope": "r" * 5000},
                                 headers=auth_of(web))
    assert_error(response, 400, "invalid_request")


@pytest.mark.parametrize("path", FORM_PATHS)
@pytest.mark.rule("token.form-only")
async def test_repeated_parameter_is_invalid_request(
    client: httpx.AsyncClient, web: RegisteredClient, path: str
) -> None:
    body = b"grant_type=client_credentials&token=a&token=a&grant_type=client_credentials"
    response = await client.post(path, content=body, headers={
        **auth_of(web), "Content-Type": "application/x-www-form-urlencoded"})
    assert_error(response, 400, "invalid_request")


@pytest.mark.parametrize("body", [
    b"grant_type=client%zzcredentials",     # malformed percent-escape
    b"grant_type=client_credentials%",      # escape cut short
    b"grant_type=client_credentials%00",    # NUL byte, escaped
    b"grant_type=client_credentials\x00",   # NUL byte, raw
    b"grant_type=%ff%fe",                   # not UTF-8 after decoding
    b"grant_type=caf\xc3\xa9",              # raw non-ASCII must be percent-encoded
    b"grant_type=a%0Ab",                    # control character
])
@pytest.mark.rule("abuse.malformed-400")
async def test_malformed_bodies_are_400_never_500(
    client: httpx.AsyncClient, web: RegisteredClient, body: bytes
) -> None:
    response = await client.post(TOKEN_PATH, content=body, headers={
        **auth_of(web), "Content-Type": "application/x-www-form-urlencoded"})
    assert_error(response, 400, "invalid_request")


@pytest.mark.rule("token.form-only")
async def test_percent_and_plus_decoding_follow_form_encoding(
    client: httpx.AsyncClient, web: RegisteredClient
) -> None:
    response = await client.post(TOKEN_PATH, content=b"grant_typ%65=client%5Fcredentials"
                                 b"&scope=read+write", headers={
                                     **auth_of(web),
                                     "Content-Type": "application/x-www-form-urlencoded"})
    assert response.status_code == 200, response.text
    assert response.json()["scope"] == "read write"


@pytest.mark.rule("token.form-only")
async def test_empty_parameters_count_as_omitted(
    client: httpx.AsyncClient, web: RegisteredClient
) -> None:
    response = await client.post(TOKEN_PATH, data={"grant_type": "", "scope": ""},
                                 headers=auth_of(web))
    body = assert_error(response, 400, "invalid_request")
    assert body["error_description"] == "The grant_type parameter is missing."


@pytest.mark.rule("responses.5xx-generic", "rest.no-secret-in-logs")
async def test_unexpected_error_is_a_generic_500_and_logs_no_secret(
    store: TokenStore, caplog: pytest.LogCaptureFixture
) -> None:
    def verify_password(username: str, password: str) -> str | None:
        raise RuntimeError(f"database said no to {password}")

    app = build_app(store, verify_password=verify_password)
    web = await confidential(store, grant_types=["password"])
    with caplog.at_level(logging.DEBUG):
        async with http(app) as client:
            response = await client.post(TOKEN_PATH, headers=auth_of(web), data={
                "grant_type": "password", "username": "alice", "password": "hunter2"})
    body = assert_error(response, 500, "server_error")
    assert body["error_description"] == "The server could not complete the request."
    assert "hunter2" not in response.text and "Traceback" not in response.text
    assert "RuntimeError" in caplog.text and "verify_password" in caplog.text
    assert "hunter2" not in caplog.text
    assert web.client_secret is not None and web.client_secret not in caplog.text


async def test_raw_spaces_in_a_body_are_spaces_as_curl_sends_them(
    client: httpx.AsyncClient, web: RegisteredClient
) -> None:
    """``curl -d "scope=a b"`` does not encode the space; that is not ambiguous, so it is read."""
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    response = await client.post("/oauth/token/", headers={**auth_of(web), **form},
                                 content=b"grant_type=client_credentials&scope=read write")
    assert response.status_code == 200, response.text
    assert response.json()["scope"] == "read write"
