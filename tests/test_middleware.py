"""OAuthMiddleware through ASGI, against both backends: sources, refusals, scopes, contract."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest
from fastapi import APIRouter, FastAPI
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from oauth_middleware import AUTO, OAuthMiddleware
from oauth_middleware.middleware import MAX_QUERY_SIZE, route_path
from oauth_middleware.store import NewTokens, StoreUnavailable, TokenStore
from tests.apps import SCOPES, build_app
from tests.conftest import FakeClock
from tests.raw_asgi import call

Issue = Callable[..., Awaitable[str]]
DESC_INVALID = "The access token is invalid, expired or revoked."
DESC_SCOPE = "The access token does not carry the required scope."


@pytest.fixture
def app(store: TokenStore) -> Starlette:
    return build_app(store)


@pytest.fixture
async def client(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as c:
        yield c


@pytest.fixture
def issue(store: TokenStore) -> Issue:
    async def _issue(*scopes: str, lifetime: int | None = 3600, user: str = "alice") -> str:
        issued = await store.issue(NewTokens(client_id="web", subject=user,
                                             scopes=frozenset(scopes), lifetime=lifetime))
        return issued.access_token

    return _issue


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_header_token_reaches_the_app_as_user_and_scopes(
    client: httpx.AsyncClient, issue: Issue, app: Starlette
) -> None:
    token = await issue("polls:results", "other")
    response = await client.get("/polls/1/results", headers=_bearer(token))
    assert response.status_code == 200
    assert response.json() == {"user": "alice", "scopes": ["other", "polls:results"],
                               "client_id": "web"}
    assert app.state.calls == ["/polls/1/results"]


@pytest.mark.parametrize("scheme", ["bearer", "BEARER", "BeArEr"])
@pytest.mark.rule("resource.bearer-case-insensitive")
async def test_bearer_scheme_is_case_insensitive(
    client: httpx.AsyncClient, issue: Issue, scheme: str
) -> None:
    token = await issue("polls:results")
    response = await client.get("/polls/1/results", headers={"Authorization": f"{scheme} {token}"})
    assert response.status_code == 200


@pytest.mark.rule("resource.query", "resource.query-private")
async def test_query_token_works_and_answer_is_private(
    client: httpx.AsyncClient, issue: Issue
) -> None:
    token = await issue("my_polls:my_stats")
    response = await client.get(f"/polls/1/stats?access_token={token}&x=1")
    assert response.status_code == 200
    assert response.headers["cache-control"] == "private"
    header = await client.get("/polls/1/stats", headers=_bearer(token))
    assert "cache-control" not in header.headers


@pytest.mark.rule("resource.form-body")
async def test_form_body_token_works_and_app_gets_the_unchanged_body(
    client: httpx.AsyncClient, issue: Issue
) -> None:
    token = await issue("polls:vote")
    body = f"choice=2&access_token={token}&note=caf%C3%A9+%26+more"
    response = await client.post("/polls/1/vote", content=body,
                                 headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert response.status_code == 200
    assert response.json()["body"] == body
    assert response.json()["choice"] == "2"


@pytest.mark.rule("resource.form-body")
async def test_form_token_is_ignored_on_get_and_other_content_types(
    client: httpx.AsyncClient, issue: Issue
) -> None:
    token = await issue("polls:vote")
    response = await client.post("/polls/1/vote", content=f"access_token={token}",
                                 headers={"Content-Type": "text/plain"})
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == 'Bearer realm="api"'


@pytest.mark.parametrize("disabled", ["header", "form_body", "query"])
@pytest.mark.rule("resource.sources-switchable")
async def test_each_source_can_be_turned_off(
    store: TokenStore, issue: Issue, disabled: str
) -> None:
    app = build_app(store, **{disabled: False})
    token = await issue("polls:vote")
    requests = {
        "header": {"headers": _bearer(token)},
        "form_body": {"content": f"access_token={token}",
                      "headers": {"Content-Type": "application/x-www-form-urlencoded"}},
        "query": {"params": {"access_token": token}},
    }
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="https://testserver") as c:
        for source, kwargs in requests.items():
            response = await c.post("/polls/1/vote", **kwargs)  # type: ignore[arg-type]
            assert response.status_code == (401 if source == disabled else 200), source
            if source == disabled:
                assert response.headers["www-authenticate"] == 'Bearer realm="api"'


@pytest.mark.rule("resource.missing-401", "resource.app-not-called")
async def test_missing_token_is_401_without_error_attribute(
    client: httpx.AsyncClient, app: Starlette
) -> None:
    response = await client.get("/polls/1/results")
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == 'Bearer realm="api"'
    assert response.headers["cache-control"] == "no-store"
    assert "error" not in response.json()
    assert app.state.calls == []


@pytest.mark.parametrize("case", ["unknown", "malformed-shape", "expired", "revoked"])
@pytest.mark.rule("resource.invalid-token", "resource.app-not-called")
async def test_bad_tokens_are_401_invalid_token(
    client: httpx.AsyncClient, issue: Issue, store: TokenStore, clock: FakeClock, app: Starlette,
    case: str,
) -> None:
    token = await issue("polls:results", lifetime=60)
    if case == "unknown":
        token = token[:-4] + "AAAA"
    elif case == "malformed-shape":
        token = "987654"
    elif case == "expired":
        clock.advance(61)
    else:
        assert await store.revoke_token(token)
    response = await client.get("/polls/1/results", headers=_bearer(token))
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == (
        f'Bearer realm="api", error="invalid_token", error_description="{DESC_INVALID}"'
    )
    assert response.json() == {"error": "invalid_token", "error_description": DESC_INVALID}
    assert app.state.calls == []


@pytest.mark.rule("resource.insufficient-scope", "resource.app-not-called")
async def test_missing_scope_is_403_insufficient_scope_naming_it(
    client: httpx.AsyncClient, issue: Issue, app: Starlette
) -> None:
    token = await issue("polls:results")
    response = await client.post("/polls/1/vote", headers=_bearer(token))
    assert response.status_code == 403
    assert response.headers["www-authenticate"] == (
        f'Bearer realm="api", error="insufficient_scope", error_description="{DESC_SCOPE}", '
        'scope="polls:vote"'
    )
    assert response.json()["error"] == "insufficient_scope"
    assert app.state.calls == []


async def _query_seen(request: Request) -> Response:
    return PlainTextResponse(request.url.query)


@pytest.mark.parametrize("query_source", [False, True])
@pytest.mark.rule("resource.no-token-in-logs", "resource.sources-switchable")
async def test_a_query_token_is_redacted_whatever_the_sources_and_the_answer(
    store: TokenStore, issue: Issue, query_source: bool
) -> None:
    """Redacted before anything is judged: off as a source, refused or served, plain HTTP."""
    app = Starlette(routes=[Route("/seen", _query_seen), Route("/me", _query_seen)])
    app.add_middleware(OAuthMiddleware, store=store, scopes={"/me": []}, query=query_source)
    served: list[Scope] = []

    async def server(scope: Scope, receive: Receive, send: Send) -> None:
        served.append(scope)  # what the server logs the URL from (uvicorn's access log)
        await app(scope, receive, send)

    query = f"x=1&access_token={await issue()}".encode()
    seen = await call(server, "GET", "/seen", query=query)
    protected = await call(server, "GET", "/me", query=query)
    plain = await call(server, "GET", "/me", query=query, scheme="http")
    assert (seen.status, seen.body) == (200, b"x=1&access_token=redacted")
    if query_source:
        assert (protected.status, protected.body) == (200, b"x=1&access_token=redacted")
    else:
        assert protected.status == 401
        assert protected.header("www-authenticate") == 'Bearer realm="api"'
    assert plain.status == 400
    assert plain.header("www-authenticate") == (
        'Bearer realm="api", error="invalid_request", error_description="HTTPS is required."')
    assert [s["query_string"] for s in served] == [b"x=1&access_token=redacted"] * 3


MALFORMED = "The access token is malformed."
TWO_METHODS = "More than one method of sending the access token was used."


@pytest.mark.parametrize(
    ("kwargs", "description"),
    [
        ({"headers": [("Authorization", "Bearer aaaa.bbbb"), ("Authorization", "Bearer c.d")]},
         "More than one Authorization header."),
        ({"headers": {"Authorization": "Bearer TOKEN"}, "params": {"access_token": "x"}},
         TWO_METHODS),
        ({"params": [("access_token", "a"), ("access_token", "b")]},
         "The access_token parameter is repeated."),
        ({"headers": {"Authorization": "Bearer"}}, MALFORMED),  # scheme without token
        ({"headers": {"Authorization": "Bearer a b"}}, MALFORMED),
        ({"headers": {"Authorization": 'Bearer "quoted"'}}, MALFORMED),
        ({"params": {"access_token": "a%zz"}}, MALFORMED),  # bad percent escape
        ({"params": {"access_token": "a\x00b"}}, MALFORMED),
        ({"headers": {"Authorization": "Bearer " + "a" * 5000}}, MALFORMED),  # oversized
        ({"content": "access_token=x", "params": {"access_token": "y"},
          "headers": {"Content-Type": "application/x-www-form-urlencoded"}}, TWO_METHODS),
    ],
)
@pytest.mark.rule("resource.malformed-400", "resource.single-method", "resource.no-echo",
                  "resource.app-not-called")
async def test_malformed_requests_are_400_invalid_request(
    client: httpx.AsyncClient, app: Starlette, kwargs: dict[str, Any], description: str
) -> None:
    response = await client.post("/polls/1/vote", **kwargs)
    assert response.status_code == 400
    assert response.headers["www-authenticate"] == (
        f'Bearer realm="api", error="invalid_request", error_description="{description}"')
    assert response.json() == {"error": "invalid_request", "error_description": description}
    assert app.state.calls == []


@pytest.mark.rule("resource.malformed-400", "abuse.malformed-400", "resource.no-echo",
                  "resource.app-not-called")
async def test_non_utf8_header_is_400_not_500(client: httpx.AsyncClient, app: Starlette) -> None:
    response = await client.get("/me", headers={b"Authorization": b"Bearer \xff\xfe"})
    assert response.status_code == 400
    assert response.headers["www-authenticate"] == (
        f'Bearer realm="api", error="invalid_request", error_description="{MALFORMED}"')
    assert response.json() == {"error": "invalid_request", "error_description": MALFORMED}
    assert app.state.calls == []


@pytest.mark.rule("resource.missing-401")
async def test_other_auth_scheme_counts_as_no_token(client: httpx.AsyncClient) -> None:
    response = await client.get("/me", headers={"Authorization": "Basic dXNlcjpwYXNz"})
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == 'Bearer realm="api"'


async def test_empty_scope_list_accepts_any_valid_token(
    client: httpx.AsyncClient, issue: Issue
) -> None:
    token = await issue()
    response = await client.get("/me", headers=_bearer(token))
    assert response.status_code == 200
    assert response.json() == {"user": "alice", "scopes": [], "client_id": "web"}


async def test_unlisted_route_passes_through_with_or_without_token(
    client: httpx.AsyncClient, issue: Issue
) -> None:
    assert (await client.get("/public")).json()["user"] is None
    token = await issue("x")
    assert (await client.get("/public", headers=_bearer(token))).json()["user"] == "alice"
    invalid = await client.get("/public", headers=_bearer("nope.nope"))
    assert invalid.status_code == 200 and invalid.json()["user"] is None
    malformed = await client.get("/public", params=[("access_token", "a"), ("access_token", "b")])
    assert malformed.status_code == 200 and malformed.json()["user"] is None


async def test_auto_scope_uses_the_named_mount_and_route_name(
    client: httpx.AsyncClient, issue: Issue
) -> None:
    wrong = await issue("polls:stats", "tests:results")
    assert (await client.get("/polls/1/results", headers=_bearer(wrong))).status_code == 403
    right = await issue("polls:results")
    assert (await client.get("/polls/1/results", headers=_bearer(right))).status_code == 200


async def test_auto_scope_on_a_fastapi_included_router_route_is_enforced(
    store: TokenStore, issue: Issue
) -> None:
    """``include_router(router, prefix=...)`` routes are found, so AUTO resolves for them."""
    app = FastAPI()
    items = APIRouter(prefix="/items")

    @items.get("/{item_id}/stats")
    async def item_stats(item_id: int) -> dict[str, int]:
        return {"item": item_id}

    app.include_router(items, prefix="/api")
    app.add_middleware(OAuthMiddleware, store=store,
                       scopes={"/api/items/{item_id}/stats": AUTO})
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="https://testserver") as c:
        lacking = await c.get("/api/items/3/stats", headers=_bearer(await issue("other")))
        assert lacking.status_code == 403
        assert lacking.headers["www-authenticate"].endswith('scope="tests:item_stats"')
        assert (await c.get("/api/items/3/stats")).status_code == 401
        ok = await c.get("/api/items/3/stats", headers=_bearer(await issue("tests:item_stats")))
        assert (ok.status_code, ok.json()) == (200, {"item": 3})


async def test_method_specific_scope_applies_only_to_that_method(
    store: TokenStore, issue: Issue
) -> None:
    app = build_app(store, scopes={"POST /public": "polls:vote"})
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="https://testserver") as c:
        assert (await c.get("/public")).status_code == 200
        assert (await c.post("/public")).status_code == 401
        token = await issue("polls:vote")
        assert (await c.post("/public", headers=_bearer(token))).status_code == 200


@pytest.mark.rule("resource.insufficient-scope")
async def test_oauth_required_decorator_is_enforced_by_the_middleware(
    client: httpx.AsyncClient, issue: Issue, app: Starlette
) -> None:
    anonymous = await client.get("/decorated")
    assert anonymous.status_code == 401
    assert anonymous.headers["www-authenticate"] == 'Bearer realm="api"'
    lacking = await client.get("/decorated", headers=_bearer(await issue("other")))
    assert lacking.status_code == 403
    assert 'scope="extra:scope"' in lacking.headers["www-authenticate"]
    ok = await client.get("/decorated", headers=_bearer(await issue("extra:scope")))
    assert ok.status_code == 200
    auto = await client.get("/polls/1/auto", headers=_bearer(await issue("polls:auto_decorated")))
    assert auto.status_code == 200
    assert app.state.calls == ["/decorated", "/polls/1/auto"]


async def test_oauth_required_refuses_even_without_the_middleware() -> None:
    from tests.apps import decorated

    bare = Starlette(routes=[Route("/decorated", decorated)])
    bare.state.calls = []
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=bare),
                                 base_url="https://testserver") as c:
        response = await c.get("/decorated")
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == 'Bearer realm="api"'
    assert bare.state.calls == []


async def test_starlette_requires_works_unchanged(client: httpx.AsyncClient, issue: Issue) -> None:
    assert (await client.get("/requires", headers=_bearer(await issue("x")))).status_code == 403
    ok = await client.get("/requires", headers=_bearer(await issue("polls:vote")))
    assert ok.status_code == 200 and ok.json()["user"] == "alice"


@pytest.mark.rule("transport.https")
async def test_plain_http_is_refused_outside_debug(app: Starlette, issue: Issue) -> None:
    token = await issue("polls:results")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://testserver") as c:
        refused = await c.get("/polls/1/results", headers=_bearer(token))
        unlisted = await c.get("/public", headers=_bearer(token))
    assert refused.status_code == 400
    assert refused.json() == {"error": "invalid_request",
                              "error_description": "HTTPS is required."}
    assert unlisted.status_code == 200 and unlisted.json()["user"] is None
    assert app.state.calls == ["/public"]


@pytest.mark.rule("transport.https")
async def test_debug_allows_plain_http(store: TokenStore, issue: Issue) -> None:
    app = build_app(store, debug=True)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://testserver") as c:
        response = await c.get("/polls/1/results", headers=_bearer(await issue("polls:results")))
    assert response.status_code == 200


async def _call(app: ASGIApp, scope: dict[str, Any], messages: list[Message]) -> list[Message]:
    sent: list[Message] = []
    inbox = list(messages)

    async def receive() -> Message:
        return inbox.pop(0) if inbox else {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        sent.append(message)

    await app(scope, receive, send)
    return sent


def _http_scope(path: str, method: str = "GET", headers: list[tuple[bytes, bytes]] | None = None,
                query: bytes = b"") -> dict[str, Any]:
    return {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
            "method": method, "scheme": "https", "path": path, "raw_path": path.encode(),
            "root_path": "", "query_string": query, "headers": headers or [],
            "server": ("testserver", 443), "client": ("127.0.0.1", 5000)}


@pytest.mark.rule("transport.https", "resource.app-not-called")
async def test_a_scope_without_scheme_counts_as_plain_and_is_refused_not_a_500(
    app: Starlette, issue: Issue
) -> None:
    """ASGI lets a server omit ``scheme`` (then "http" or "ws"): still refused outside debug."""
    token = await issue("polls:results")
    headers = [(b"authorization", f"Bearer {token}".encode())]
    http = _http_scope("/polls/1/results", headers=headers)
    ws = _ws_scope("/ws", headers)
    del http["scheme"], ws["scheme"]
    sent = await _call(app, http, [])
    closed = await _call(app, ws, [{"type": "websocket.connect"}])
    assert sent[0]["status"] == 400
    assert (b"www-authenticate", b'Bearer realm="api", error="invalid_request", '
            b'error_description="HTTPS is required."') in sent[0]["headers"]
    assert closed == [{"type": "websocket.accept"},
                      {"type": "websocket.close", "code": 1008, "reason": "invalid_request"}]
    assert app.state.calls == []


@pytest.mark.rule("resource.form-body")
async def test_chunked_form_body_is_replayed_byte_identical(app: Starlette, issue: Issue) -> None:
    token = await issue()
    chunks = [b"a=1&access_tok", b"en=" + token.encode() + b"&b=", b"%FF%00\xff"]
    messages: list[Message] = [
        {"type": "http.request", "body": c, "more_body": i < len(chunks) - 1}
        for i, c in enumerate(chunks)
    ]
    headers = [(b"content-type", b"application/x-www-form-urlencoded; charset=utf-8")]
    sent = await _call(app, _http_scope("/echo", "POST", headers), messages)
    assert sent[0]["status"] == 200
    assert b"".join(m.get("body", b"") for m in sent[1:]) == b"".join(chunks)


@pytest.mark.rule("abuse.caps")
async def test_oversized_form_body_on_protected_route_is_413(
    store: TokenStore, issue: Issue
) -> None:
    app = build_app(store, max_body_size=16)
    app.state.calls = []
    token = await issue("polls:vote")
    body = f"access_token={token}".encode()
    sent = await _call(app, _http_scope("/polls/1/vote", "POST", [
        (b"content-type", b"application/x-www-form-urlencoded")]),
        [{"type": "http.request", "body": body, "more_body": False}])
    body_out = b'{"error": "invalid_request", "error_description": "The request is too large."}'
    assert sent[0]["status"] == 413
    assert sent[0]["headers"] == [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body_out)).encode()),
        (b"cache-control", b"no-store"),
        (b"pragma", b"no-cache"),
        (b"www-authenticate", b'Bearer realm="api", error="invalid_request", '
                              b'error_description="The request is too large."'),
    ]
    assert sent[1]["body"] == body_out
    assert app.state.calls == []
    unlisted = await _call(app, _http_scope("/echo", "POST", [
        (b"content-type", b"application/x-www-form-urlencoded")]),
        [{"type": "http.request", "body": body, "more_body": False}])
    assert unlisted[0]["status"] == 200 and unlisted[1]["body"] == body


def _ws_scope(path: str, headers: list[tuple[bytes, bytes]], query: bytes = b"",
              scheme: str = "wss") -> dict[str, Any]:
    return {"type": "websocket", "asgi": {"version": "3.0"}, "scheme": scheme, "path": path,
            "raw_path": path.encode(), "root_path": "", "query_string": query,
            "headers": headers, "server": ("testserver", 443), "client": ("127.0.0.1", 5000),
            "subprotocols": []}


async def test_websocket_with_valid_token_is_accepted(app: Starlette, issue: Issue) -> None:
    token = await issue()
    for headers, query in (([(b"authorization", f"Bearer {token}".encode())], b""),
                           ([], f"access_token={token}".encode())):
        sent = await _call(app, _ws_scope("/ws", headers, query), [{"type": "websocket.connect"}])
        assert sent[0]["type"] == "websocket.accept"
        assert '"alice"' in sent[1]["text"]


@pytest.mark.rule("resource.websocket-close-codes", "resource.app-not-called")
@pytest.mark.parametrize("token", [None, "nope.nope"])
async def test_websocket_without_valid_token_is_closed_as_policy_violation(
    app: Starlette, token: str | None
) -> None:
    """Without the server's ``websocket.http.response`` extension a close before accept
    would be a bare 403: the socket is accepted, then closed with the reason."""
    headers = [(b"authorization", f"Bearer {token}".encode())] if token else []
    sent = await _call(app, _ws_scope("/ws", headers), [{"type": "websocket.connect"}])
    assert sent == [{"type": "websocket.accept"},
                    {"type": "websocket.close", "code": 1008,
                     "reason": "invalid_token" if token else "missing_token"}]
    assert app.state.calls == []


_REFUSALS = {
    "no token": ([], "/ws", 401, 'Bearer realm="api"',
                 {"error_description": "A bearer token is required."}),
    "bad token": ([(b"authorization", b"Bearer nope.nope")], "/ws", 401,
                  'Bearer realm="api", error="invalid_token", error_description="The access '
                  'token is invalid, expired or revoked."',
                  {"error": "invalid_token", "error_description":
                   "The access token is invalid, expired or revoked."}),
    "missing scope": (None, "/ws", 403,
                      'Bearer realm="api", error="insufficient_scope", error_description="The '
                      'access token does not carry the required scope.", scope="polls:vote"',
                      {"error": "insufficient_scope", "error_description":
                       "The access token does not carry the required scope.",
                       "scope": "polls:vote"}),
}


@pytest.mark.rule("resource.websocket-http-refusal", "resource.missing-401",
                  "resource.invalid-token", "resource.insufficient-scope",
                  "resource.app-not-called")
@pytest.mark.parametrize("case", sorted(_REFUSALS))
async def test_websocket_refusal_is_the_http_refusal_where_the_server_offers_it(
    app: Starlette, store: TokenStore, issue: Issue, case: str
) -> None:
    headers, path, status, challenge, body = _REFUSALS[case]
    if headers is None:
        headers = [(b"authorization", f"Bearer {await issue('polls:results')}".encode())]
        app = build_app(store, scopes={**SCOPES, "/ws": "polls:vote"})
        app.state.calls = []
    scope = {**_ws_scope(path, headers), "extensions": {"websocket.http.response": {}}}
    sent = await _call(app, scope, [{"type": "websocket.connect"}])
    raw = json.dumps(body).encode()
    assert sent == [
        {"type": "websocket.http.response.start", "status": status, "headers": [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(raw)).encode()),
            (b"cache-control", b"no-store"),
                (b"pragma", b"no-cache"),
            (b"www-authenticate", challenge.encode())]},
        {"type": "websocket.http.response.body", "body": raw},
    ]
    assert app.state.calls == []


@pytest.mark.rule("resource.app-not-called")
async def test_a_websocket_client_gone_before_the_refusal_is_sent_nothing(
    app: Starlette,
) -> None:
    sent = await _call(app, _ws_scope("/ws", []), [{"type": "websocket.disconnect", "code": 1000}])
    assert sent == []
    assert app.state.calls == []


@pytest.mark.rule("transport.https")
async def test_websocket_over_plain_ws_is_closed_as_policy_violation_outside_debug(
    store: TokenStore, issue: Issue
) -> None:
    """A valid token does not help: the close comes before the app could accept."""
    token = await issue()
    headers = [(b"authorization", f"Bearer {token}".encode())]
    sent = await _call(build_app(store), _ws_scope("/ws", headers, scheme="ws"),
                       [{"type": "websocket.connect"}])
    assert sent == [{"type": "websocket.accept"},
                    {"type": "websocket.close", "code": 1008, "reason": "invalid_request"}]
    debug = await _call(build_app(store, debug=True), _ws_scope("/ws", headers, scheme="ws"),
                        [{"type": "websocket.connect"}])
    assert debug[0]["type"] == "websocket.accept"


@pytest.mark.rule("transport.https")
async def test_websocket_over_plain_ws_is_a_400_naming_tls_where_the_server_offers_it(
    store: TokenStore, issue: Issue
) -> None:
    token = await issue()
    scope = {**_ws_scope("/ws", [(b"authorization", f"Bearer {token}".encode())], scheme="ws"),
             "extensions": {"websocket.http.response": {}}}
    sent = await _call(build_app(store), scope, [{"type": "websocket.connect"}])
    description = "TLS (wss) is required."
    raw = json.dumps({"error": "invalid_request", "error_description": description}).encode()
    assert sent[0]["type"] == "websocket.http.response.start" and sent[0]["status"] == 400
    assert (b"www-authenticate", b'Bearer realm="api", error="invalid_request", '
            b'error_description="TLS (wss) is required."') in sent[0]["headers"]
    assert (b"cache-control", b"no-store") in sent[0]["headers"]
    assert sent[1] == {"type": "websocket.http.response.body", "body": raw}


async def test_lifespan_and_other_scopes_pass_through(app: Starlette) -> None:
    sent = await _call(app, {"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}},
                       [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}])
    assert [m["type"] for m in sent] == ["lifespan.startup.complete", "lifespan.shutdown.complete"]


@pytest.mark.rule("rest.log-lines-escaped", "resource.missing-401")
async def test_a_refusal_logs_the_path_without_its_line_breaks(
    store: TokenStore, caplog: pytest.LogCaptureFixture
) -> None:
    """The path is decoded by the server (``%0d%0a`` is CR LF): written raw into the
    refusal's log line it would forge a line of the caller's choosing."""
    path = "/polls/1\r\nWARNING:root:forged line\n/results"
    with caplog.at_level("INFO", logger="oauth_middleware.middleware"):
        response = await call(build_app(store), "GET", path)
    assert response.status == 401
    assert response.header("www-authenticate") == 'Bearer realm="api"'
    (record,) = [r for r in caplog.records if r.name == "oauth_middleware.middleware"]
    message = record.getMessage()
    assert "\r" not in message and "\n" not in message
    assert message == f"refused GET {path!r}: missing_token"


@pytest.mark.rule("rest.log-lines-escaped", "resource.websocket-close-codes")
async def test_a_websocket_refusal_logs_the_path_without_its_line_breaks(
    store: TokenStore, caplog: pytest.LogCaptureFixture
) -> None:
    """The handshake's path is decoded like an HTTP request's: the refusal's log line
    quotes it too, so a ``%0d%0a`` in it forges no line."""
    path = "/polls/1\r\nWARNING:root:forged line\n/results"
    app = build_app(store)
    with caplog.at_level("INFO", logger="oauth_middleware.middleware"):
        sent = await _call(app, _ws_scope(path, []), [{"type": "websocket.connect"}])
    assert sent == [{"type": "websocket.accept"},
                    {"type": "websocket.close", "code": 1008, "reason": "missing_token"}]
    (record,) = [r for r in caplog.records if r.name == "oauth_middleware.middleware"]
    message = record.getMessage()
    assert "\r" not in message and "\n" not in message
    assert message == f"refused WS {path!r}: missing_token"


#: What the app below answers, per path: its own headers, Cache-Control or not.
_APP_HEADERS: dict[str, list[tuple[bytes, bytes]]] = {
    "/plain": [(b"content-type", b"text/plain"), (b"x-app", b"1")],
    "/cached": [(b"content-type", b"text/plain"), (b"Cache-Control", b"public, max-age=60")],
    "/no-store": [(b"cache-control", b"No-Store"), (b"x-app", b"2")],
}


async def _headers_app(scope: Scope, receive: Receive, send: Send) -> None:
    """Answers with the headers of :data:`_APP_HEADERS`; ``/bare`` sends no headers key."""
    start: Message = {"type": "http.response.start", "status": 200}
    if scope["path"] != "/bare":
        start["headers"] = _APP_HEADERS[scope["path"]]
    await send(start)
    await send({"type": "http.response.body", "body": b"ok"})


@pytest.mark.parametrize(("path", "expected"), [
    ("/plain", [(b"content-type", b"text/plain"), (b"x-app", b"1"),
                (b"cache-control", b"private")]),
    ("/cached", [(b"content-type", b"text/plain"), (b"cache-control", b"private")]),
    ("/no-store", [(b"cache-control", b"No-Store"), (b"x-app", b"2")]),
    ("/bare", [(b"cache-control", b"private")]),
])
@pytest.mark.rule("resource.query-private")
async def test_a_query_token_answer_is_private_and_keeps_every_other_header_of_the_app(
    store: TokenStore, issue: Issue, path: str, expected: list[tuple[bytes, bytes]]
) -> None:
    """Only a Cache-Control that would let a shared cache keep the answer is replaced; the
    app's no-store (any case) stays, as does every other header, byte for byte."""
    app = OAuthMiddleware(_headers_app, store=store, scopes={path: []})
    token = (await issue()).encode()
    by_query = await call(app, "GET", path, query=b"access_token=" + token)
    assert (by_query.status, by_query.headers, by_query.body) == (200, expected, b"ok")
    by_header = await call(app, "GET", path, headers=[(b"authorization", b"Bearer " + token)])
    assert by_header.headers == _APP_HEADERS.get(path, [])


@pytest.mark.rule("resource.missing-401", "resource.app-not-called")
async def test_a_refusal_of_a_head_request_has_the_challenge_and_no_body(
    app: Starlette,
) -> None:
    head = await call(app, "HEAD", "/me")
    get = await call(app, "GET", "/me")
    for refused in (head, get):
        assert refused.status == 401
        assert refused.header("www-authenticate") == 'Bearer realm="api"'
    assert head.body == b""
    assert json.loads(get.body) == {"error_description": "A bearer token is required."}
    assert app.state.calls == []


@pytest.mark.parametrize("method", ["GET", "HEAD"])
@pytest.mark.rule("resource.form-body", "resource.missing-401", "resource.app-not-called")
async def test_a_token_in_the_body_of_a_get_or_head_is_no_credential(
    app: Starlette, issue: Issue, method: str
) -> None:
    """RFC 6750 §2.2: the form-body method is for requests that have a body by nature."""
    token = await issue()
    form = (b"content-type", b"application/x-www-form-urlencoded")
    refused = await call(app, method, "/me", headers=[form], body=b"access_token=" + token.encode())
    assert refused.status == 401
    assert refused.header("www-authenticate") == 'Bearer realm="api"'
    assert app.state.calls == []


async def _named(request: Request) -> Response:
    return PlainTextResponse(request.user.identity)


@pytest.mark.rule("resource.insufficient-scope")
async def test_wrapping_a_starlette_app_directly_binds_its_routes_without_scope_app(
    store: TokenStore, issue: Issue
) -> None:
    """Raw ASGI servers put no ``app`` in the scope: AUTO comes from the wrapped app's routes."""
    app = OAuthMiddleware(Starlette(routes=[Route("/named", _named)]), store=store,
                          scopes={"/named": AUTO})
    lacking = await call(app, "GET", "/named",
                         headers=[(b"authorization", f"Bearer {await issue('x')}".encode())])
    assert lacking.status == 403
    assert str(lacking.header("www-authenticate")).endswith('scope="tests:_named"')
    ok = await call(app, "GET", "/named",
                    headers=[(b"authorization", f"Bearer {await issue('tests:_named')}".encode())])
    assert (ok.status, ok.body) == (200, b"alice")


AUTO_WITHOUT_ROUTES = ("AUTO scopes need the Starlette app's routes: add OAuthMiddleware with "
                       "app.add_middleware() or wrap a Starlette/Router instance")


@pytest.mark.parametrize("first", ["lifespan", "http", "websocket"])
async def test_auto_scopes_around_an_app_without_routes_fail_on_the_first_event(
    store: TokenStore, first: str
) -> None:
    """Whatever arrives first, startup included: the misconfiguration is named, not skipped."""

    async def opaque(scope: Scope, receive: Receive, send: Send) -> None:
        raise AssertionError("the app must not be reached")

    app = OAuthMiddleware(opaque, store=store, scopes={"/x": AUTO})
    scope = {"lifespan": {"type": "lifespan", "asgi": {"version": "3.0"}},
             "http": _http_scope("/x"), "websocket": _ws_scope("/x", [])}[first]
    with pytest.raises(RuntimeError) as failed:
        await _call(app, scope, [{"type": "websocket.connect"}])
    assert str(failed.value) == AUTO_WITHOUT_ROUTES


@pytest.mark.rule("resource.insufficient-scope")
async def test_a_websocket_as_the_very_first_request_meets_its_auto_scope(
    store: TokenStore, issue: Issue
) -> None:
    for scopes, expected in ((("x",), "insufficient_scope"), ((), "missing_token")):
        app = build_app(store, scopes={"/ws": AUTO})
        headers = [(b"authorization", f"Bearer {await issue(*scopes)}".encode())] if scopes else []
        closed = await _call(app, _ws_scope("/ws", headers), [{"type": "websocket.connect"}])
        # No websocket.http.response extension in this scope: accepted, then closed.
        assert closed == [{"type": "websocket.accept"},
                          {"type": "websocket.close", "code": 1008, "reason": expected}]


@pytest.mark.rule("resource.missing-401")
async def test_a_websocket_route_keyed_with_get_is_protected(store: TokenStore) -> None:
    app = build_app(store, scopes={"GET /ws": []})
    closed = await _call(app, _ws_scope("/ws", []), [{"type": "websocket.connect"}])
    assert closed == [{"type": "websocket.accept"},
                      {"type": "websocket.close", "code": 1008, "reason": "missing_token"}]


@pytest.mark.parametrize("retry_after", [None, 7])
@pytest.mark.rule("redis.resource-503", "resource.app-not-called")
async def test_a_store_outage_is_503_with_retry_after_and_1013_on_a_websocket(
    store: TokenStore, issue: Issue, monkeypatch: pytest.MonkeyPatch, retry_after: int | None
) -> None:
    token = await issue()

    async def unavailable(token: str) -> None:
        raise StoreUnavailable()

    monkeypatch.setattr(store, "resolve", unavailable)
    app = build_app(store) if retry_after is None else build_app(store, retry_after=retry_after)
    headers = [(b"authorization", f"Bearer {token}".encode())]
    refused = await call(app, "GET", "/me", headers=headers)
    assert refused.status == 503
    assert refused.header("retry-after") == str(retry_after or 5)
    assert refused.header("www-authenticate") is None
    assert json.loads(refused.body)["error"] == "temporarily_unavailable"
    closed = await _call(app, _ws_scope("/ws", headers), [{"type": "websocket.connect"}])
    assert closed == [{"type": "websocket.accept"}, {"type": "websocket.close", "code": 1013,
                                                     "reason": "temporarily_unavailable"}]
    assert app.state.calls == []


@pytest.mark.rule("resource.no-token-in-logs", "rest.no-secret-in-logs")
async def test_a_refusal_is_logged_with_method_path_and_error_never_the_token(
    app: Starlette, caplog: pytest.LogCaptureFixture
) -> None:
    secret = "a" * 22 + "." + "b" * 43
    caplog.set_level(logging.INFO, logger="oauth_middleware.middleware")
    await call(app, "GET", "/me", query=f"access_token={secret}".encode())
    await call(app, "POST", "/polls/1/vote", headers=[(b"authorization", b"Bearer " +
                                                       secret.encode())])
    await _call(app, _ws_scope("/ws", []), [{"type": "websocket.connect"}])
    lines = [r.getMessage() for r in caplog.records if r.name == "oauth_middleware.middleware"]
    assert lines == ["refused GET '/me': invalid_token",
                     "refused POST '/polls/1/vote': invalid_token",
                     "refused WS '/ws': missing_token"]
    assert secret not in caplog.text


@pytest.mark.parametrize(("path", "root_path", "expected"), [
    ("/api/x", "/api", "/x"),
    ("/api", "/api", "/"),
    ("/apix/y", "/api", "/apix/y"),  # a prefix, not a path segment
    ("/other", "/api", "/other"),
    ("/x", "", "/x"),
])
def test_the_route_path_is_the_path_below_root_path_only_at_a_segment_boundary(
    path: str, root_path: str, expected: str
) -> None:
    assert route_path({"path": path, "root_path": root_path}) == expected
    if not root_path:
        assert route_path({"path": path}) == expected


async def test_a_scope_without_query_string_is_served_and_passed_on_as_it_came(
    store: TokenStore, issue: Issue
) -> None:
    seen: list[Scope] = []

    async def inner(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append(scope)
        await PlainTextResponse("ok")(scope, receive, send)

    app = OAuthMiddleware(inner, store=store, scopes={"/x": []})
    scope = _http_scope("/x", headers=[(b"authorization", f"Bearer {await issue()}".encode())])
    del scope["query_string"]
    sent = await _call(app, scope, [])
    assert sent[0]["status"] == 200
    assert "query_string" not in seen[0]


def test_a_store_that_is_not_a_token_store_is_refused_naming_the_fix() -> None:
    with pytest.raises(TypeError) as refused:
        OAuthMiddleware(PlainTextResponse("x"), store=object())  # type: ignore[arg-type]
    assert str(refused.value).startswith("OAuthMiddleware: store=<object object at ")
    assert str(refused.value).endswith("(object) is wrong: pass a TokenStore, "
                                       "e.g. TokenStore.from_url(os.environ.get('REDIS_URL')), "
                                       "or None when verifier= is given")


@pytest.mark.rule("abuse.caps")
async def test_a_query_string_over_the_cap_is_413_saying_so(app: Starlette) -> None:
    refused = await call(app, "GET", "/me", query=b"x=" + b"a" * MAX_QUERY_SIZE)
    assert refused.status == 413
    assert json.loads(refused.body) == {"error": "invalid_request",
                                        "error_description": "The query string is too long."}


@pytest.mark.parametrize("token", [None, "nope.nope"])
async def test_a_websocket_on_an_open_route_is_served_anonymously_whatever_it_carries(
    store: TokenStore, token: str | None
) -> None:
    """A missing or invalid token on an unprotected route is no refusal and no identity:
    the app runs with its own receive, as an anonymous user."""

    async def echo(scope: Scope, receive: Receive, send: Send) -> None:
        assert (await receive())["type"] == "websocket.connect"
        await send({"type": "websocket.accept"})
        await send({"type": "websocket.send",
                    "text": json.dumps([scope["user"].is_authenticated, scope["auth"].scopes])})

    app = OAuthMiddleware(echo, store=store, scopes={"/protected": []})
    headers = [(b"authorization", f"Bearer {token}".encode())] if token else []
    sent = await _call(app, _ws_scope("/open", headers), [{"type": "websocket.connect"}])
    assert sent == [{"type": "websocket.accept"}, {"type": "websocket.send", "text": "[false, []]"}]
