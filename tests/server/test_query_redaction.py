"""A secret in a URL is blanked before any refusal (SECURITY.md "At rest, in memory, in logs").

Servers log the URL from the ASGI scope when the answer starts (uvicorn's access
log), so these tests look at the scope a server would log from, after the
answer, for every early exit: a wrong method, plain HTTP, an oversized or
malformed body, Redis down, a mistyped path; on the token family, ``auth/``, the
metadata document and the admin. The token family blanks every value of its
query; ``auth/`` and the admin blank the OAuth secrets and keep the rest.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from oauth_middleware.store import TokenStore
from tests.admin.harness import USER_HEADER, build_host
from tests.raw_asgi import RawResponse, call
from tests.redis_process import RedisProcess, free_port
from tests.server.token_harness import INTROSPECT_PATH, METADATA_URL, REVOKE_PATH, TOKEN_PATH
from tests.server.token_harness import build_app as build_server
from tests.servers import UvicornProcess

FAMILY = [TOKEN_PATH, REVOKE_PATH, INTROSPECT_PATH]
#: Secrets under names no check refuses (a wrong case, a name of the client's own) and bare.
QUERY = b"Client_Secret=S3CRET-1&x=1&api_key=S3CRET-2&S3CRET-3"
FAMILY_LOGGED = b"Client_Secret=redacted&x=redacted&api_key=redacted&redacted"
FORM = [(b"content-type", b"application/x-www-form-urlencoded")]
WELL_FORMED = b"a" * 22 + b"." + b"b" * 43
BASIC = [(b"authorization", b"Basic d2ViOnNlY3JldA==")]


async def _logged(app: ASGIApp, method: str, path: str, query: bytes = QUERY,
                  **options: Any) -> tuple[RawResponse, bytes]:
    """The answer, and the query string a server would log once it was given."""
    seen: dict[str, Scope] = {}

    async def server(scope: Scope, receive: Receive, send: Send) -> None:
        seen["scope"] = scope
        await app(scope, receive, send)

    response = await call(server, method, path, query=query, **options)
    logged: bytes = seen["scope"]["query_string"]
    assert b"S3CRET" not in logged
    return response, logged


def _json_error(response: RawResponse, status: int, description: str | None = None) -> None:
    assert response.status == status
    assert response.header("cache-control") == "no-store"
    assert response.header("content-type") == "application/json"
    body = json.loads(response.body)
    assert body["error"] == ("temporarily_unavailable" if status == 503 else "invalid_request")
    if description is not None:
        assert body["error_description"] == description


#: Each early exit of the token family: request options, status, error_description.
EARLY_EXITS: dict[str, tuple[dict[str, Any], int, str | None]] = {
    "wrong method": ({}, 405, None),
    "plain http": ({"scheme": "http", "body": b"token=x", "headers": FORM}, 400,
                   "HTTPS is required."),
    "declared too large": ({"headers": [*FORM, (b"content-length", b"999999")]}, 413, None),
    "streamed too large": ({"headers": FORM, "chunks": [b"a" * 9000, b"b" * 9000]}, 413, None),
    "malformed length": ({"headers": [*FORM, (b"content-length", b"12, 12")]}, 400,
                         "The Content-Length header is malformed."),
    "oauth names in the url": ({"query": b"client_secret=S3CRET-1&pass%77ord=S3CRET-2&x=1",
                                "body": b"token=x", "headers": FORM}, 400,
                               "OAuth parameters must be sent in the request body, not the URL."),
    "json body": ({"body": b"{}", "headers": [(b"content-type", b"application/json")]}, 400,
                  "The body must be application/x-www-form-urlencoded."),
}


@pytest.mark.parametrize("path", FAMILY)
@pytest.mark.parametrize("kind", EARLY_EXITS)
@pytest.mark.rule("rest.early-refusal-redacted", "rest.no-secret-in-logs")
async def test_every_early_refusal_of_the_token_family_blanks_the_whole_query_first(
    store: TokenStore, path: str, kind: str
) -> None:
    options, status, description = EARLY_EXITS[kind]
    method = "GET" if status == 405 else "POST"
    response, logged = await _logged(build_server(store), method, path, **options)
    _json_error(response, status, description)
    if status == 405:
        assert response.header("allow") == "POST"
    if "query" in options:
        assert logged == b"client_secret=redacted&pass%77ord=redacted&x=redacted"
    else:
        assert logged == FAMILY_LOGGED


@pytest.mark.parametrize("path", FAMILY)
@pytest.mark.rule("rest.early-refusal-redacted", "redis.token-503")
async def test_a_token_family_request_refused_because_redis_is_down_logs_no_secret(
    path: str,
) -> None:
    store = TokenStore.from_url(f"redis://127.0.0.1:{free_port()}/0")
    try:
        app = build_server(store)
        served, logged = await _logged(app, "POST", path, body=b"grant_type=client_credentials"
                                       b"&token=x", headers=[*FORM, *BASIC])
        # A well-formed access_token in the URL makes the middleware in front look it up,
        # and answer 503 itself, before the server is reached.
        guarded, guarded_log = await _logged(
            app, "POST", path, query=b"client_secret=S3CRET-1&access_token=" + WELL_FORMED
            + b"&x=1", body=b"token=x", headers=[*FORM, *BASIC])
    finally:
        await store.aclose()
    for response in (served, guarded):
        _json_error(response, 503)
        assert response.header("retry-after") is not None
    assert logged == FAMILY_LOGGED
    assert guarded_log == b"client_secret=redacted&access_token=redacted&x=1"


@pytest.mark.rule("rest.early-refusal-redacted")
async def test_the_metadata_document_and_a_mistyped_path_log_no_secret(
    store: TokenStore,
) -> None:
    app = build_server(store)
    document, logged = await _logged(app, "GET", METADATA_URL)
    assert document.status == 200 and json.loads(document.body)["issuer"]
    assert logged == FAMILY_LOGGED
    named = b"client_secret=S3CRET-1&x=1&Code=S3CRET-2&pass%77ord=S3CRET-3"
    missing, logged = await _logged(app, "POST", "/oauth/tokne/", query=named, body=b"x",
                                    headers=FORM)
    assert missing.status == 404
    assert logged == b"client_secret=redacted&x=1&Code=redacted&pass%77ord=redacted"


@pytest.mark.parametrize(("method", "scheme", "status"), [
    ("PUT", "https", 405), ("GET", "http", 400), ("GET", "https", 400),
])
@pytest.mark.rule("rest.early-refusal-redacted")
async def test_auth_refusals_blank_the_oauth_secrets_and_keep_the_request(
    store: TokenStore, method: str, scheme: str, status: int
) -> None:
    query = b"client_id=web&client_secret=S3CRET-1&code_verifier=S3CRET-2&state=s"
    response, logged = await _logged(build_server(store), method, "/oauth/auth/", query=query,
                                     scheme=scheme)
    assert response.status == status
    assert response.header("content-type") == "text/html; charset=utf-8"
    assert response.header("location") is None
    assert logged == b"client_id=web&client_secret=redacted&code_verifier=redacted&state=s"


@pytest.mark.rule("rest.early-refusal-redacted")
async def test_a_secret_under_an_odd_spelling_of_its_name_is_blanked_and_the_rest_kept(
    store: TokenStore,
) -> None:
    """A name decoded leniently ('+' a space, trimmed, any case, bytes that are no UTF-8),
    a value holding '=': the log keeps every name and nothing of a secret."""
    query = (b"client_id=web&client_secret+=S3CRET-1&+Code=S3CRET-2&"
             b"code_verifier=S3CRET-3=tail&%FF%FE=1&state=s")
    response, logged = await _logged(build_server(store), "GET", "/oauth/auth/", query=query,
                                     scheme="http")
    assert response.status == 400
    assert response.header("content-type") == "text/html; charset=utf-8"
    assert logged == (b"client_id=web&client_secret+=redacted&+Code=redacted&"
                      b"code_verifier=redacted&%FF%FE=1&state=s")


@pytest.mark.rule("rest.early-refusal-redacted")
async def test_the_token_family_blanks_every_value_and_keeps_an_empty_part_empty(
    store: TokenStore,
) -> None:
    response, logged = await _logged(build_server(store), "GET", TOKEN_PATH,
                                     query=b"a=S3CRET-1&&k=S3CRET-2=y&S3CRET-3")
    assert response.status == 405
    assert logged == b"a=redacted&&k=redacted&redacted"


@pytest.mark.parametrize(("scheme", "query", "headers", "status"), [
    ("http", b"q=a&csrf_token=S3CRET-1", [(USER_HEADER.encode(), b"alice")], 400),
    ("https", b"q=\xff&csrf_token=S3CRET-1", [(USER_HEADER.encode(), b"alice")], 400),
    ("https", b"q=a&csrf_token=S3CRET-1", [], 303),
])
@pytest.mark.rule("rest.early-refusal-redacted")
async def test_admin_refusals_blank_the_secrets_of_their_query_first(
    store: TokenStore, scheme: str, query: bytes, headers: list[tuple[bytes, bytes]],
    status: int
) -> None:
    response, logged = await _logged(build_host(store), "GET", "/admin/clients/", query=query,
                                     scheme=scheme, headers=headers)
    assert response.status == status
    assert logged == query.replace(b"S3CRET-1", b"redacted")
    assert "S3CRET" not in (response.header("location") or "")


def _uvicorn(redis_url: str) -> UvicornProcess:
    """The server outside debug mode behind a trusted proxy (``X-Forwarded-Proto``), its
    access log on: each line prints the query string the app left in the scope."""
    return UvicornProcess("tests.server.token_server_app:build_https", "--factory",
                          "--proxy-headers", "--forwarded-allow-ips", "127.0.0.1",
                          "--access-log", "--log-level", "info", env={"REDIS_URL": redis_url})


HTTPS = {"X-Forwarded-Proto": "https"}


@pytest.mark.real_redis_only
@pytest.mark.rule("rest.early-refusal-redacted", "rest.no-secret-in-logs")
async def test_uvicorn_access_log_of_every_early_refusal_holds_no_secret(
    redis_server: RedisProcess,
) -> None:
    with _uvicorn(redis_server.url) as server:
        async with httpx.AsyncClient(base_url=server.url, headers=HTTPS) as client:
            statuses = [
                (await client.get("/oauth/token/?client_secret=S3CRET-1&x=1")).status_code,
                (await client.post("/oauth/revoke/?Client_Secret=S3CRET-2", data={"token": "t"},
                                   headers={"X-Forwarded-Proto": "http"})).status_code,
                (await client.post("/oauth/introspect/?api_key=S3CRET-3",
                                   data={"pad": "p" * 20000})).status_code,
                (await client.post("/oauth/token/?x=S3CRET-4", json={})).status_code,
                (await client.post("/oauth/token/?password=S3CRET-5",
                                   data={"grant_type": "password"})).status_code,
                (await client.get(f"{METADATA_URL}?refresh_token=S3CRET-6")).status_code,
                (await client.put("/oauth/auth/?client_id=web&client_secret=S3CRET-7"))
                .status_code,
                (await client.get("/oauth/tokne?client_secret=S3CRET-8")).status_code,
            ]
        server.stop()
        log = server.output()
    assert statuses == [405, 400, 413, 400, 400, 200, 405, 404]
    assert "S3CRET" not in log
    for line in ('"GET /oauth/token/?client_secret=redacted&x=redacted HTTP/1.1" 405',
                 '"POST /oauth/revoke/?Client_Secret=redacted HTTP/1.1" 400',
                 '"POST /oauth/introspect/?api_key=redacted HTTP/1.1" 413',
                 '"POST /oauth/token/?x=redacted HTTP/1.1" 400',
                 '"POST /oauth/token/?password=redacted HTTP/1.1" 400',
                 '"PUT /oauth/auth/?client_id=web&client_secret=redacted HTTP/1.1" 405',
                 '"GET /oauth/tokne?client_secret=redacted HTTP/1.1" 404'):
        assert line in log, log


@pytest.mark.real_redis_only
@pytest.mark.rule("rest.early-refusal-redacted", "redis.token-503")
async def test_uvicorn_access_log_of_a_503_while_redis_is_down_holds_no_secret() -> None:
    basic = {**HTTPS, "Authorization": "Basic d2ViOnNlY3JldA=="}
    token = WELL_FORMED.decode()
    with _uvicorn(f"redis://127.0.0.1:{free_port()}/0") as server:
        async with httpx.AsyncClient(base_url=server.url, headers=basic) as client:
            plain = await client.post("/oauth/token/?Client_Secret=S3CRET-1",
                                      data={"grant_type": "client_credentials"})
            guarded = await client.post(
                f"/oauth/revoke/?client_secret=S3CRET-2&access_token={token}",
                data={"token": "t"})
        server.stop()
        log = server.output()
    assert (plain.status_code, guarded.status_code) == (503, 503)
    assert plain.json()["error"] == guarded.json()["error"] == "temporarily_unavailable"
    assert plain.headers["retry-after"] and guarded.headers["retry-after"]
    assert "S3CRET" not in log and token not in log
    assert '"POST /oauth/token/?Client_Secret=redacted HTTP/1.1" 503' in log, log
    assert ('"POST /oauth/revoke/?client_secret=redacted&access_token=redacted HTTP/1.1" 503'
            in log), log


QUERY_WITH_PASSWORD = b"password=S3CRET-1&x=1&csrf_token=S3CRET-2"


@pytest.mark.rule("rest.early-refusal-redacted")
async def test_a_websocket_to_the_admin_is_closed_with_the_secrets_of_its_query_blanked(
    store: TokenStore,
) -> None:
    """uvicorn logs a refused WebSocket's path and query (``"WebSocket /admin/?..." 403``)."""
    scope: dict[str, Any] = {
        "type": "websocket", "asgi": {"version": "3.0"}, "scheme": "wss", "path": "/admin/",
        "raw_path": b"/admin/", "root_path": "", "query_string": QUERY_WITH_PASSWORD,
        "headers": [(b"host", b"testserver")], "client": ("127.0.0.1", 50000),
        "server": ("testserver", 443), "subprotocols": [],
    }
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "websocket.connect"}

    async def send(message: Message) -> None:
        sent.append(message)

    await build_host(store)(scope, receive, send)
    assert sent == [{"type": "websocket.close", "code": 1008}]
    assert scope["query_string"] == b"password=redacted&x=1&csrf_token=redacted"

