"""Plain HTTP from this machine needs no flag; from anywhere else it is refused (RFC 6750 §5.3).

Every surface (middleware, token family, ``auth/``, admin) shares one rule,
:mod:`oauth_middleware.transport`: the peer AND the Host header loopback, no proxy
header. Each attack below breaks exactly one of the three conditions.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from typing import Any

import pytest
from starlette.types import ASGIApp, Message

from oauth_middleware.server.app import AuthorizationServer
from oauth_middleware.store import NewTokens, TokenStore
from oauth_middleware.transport import Transport, is_local, is_loopback_host, is_loopback_ip
from tests.apps import build_app
from tests.server.token_harness import build_app as build_server_app
from tests.server.token_harness import confidential

KEY = "k" * 32
LOCAL_HOSTS = [b"localhost", b"LocalHost:8000", b"127.0.0.1", b"127.0.0.1:8000",
               b"127.200.3.4:1", b"[::1]", b"[::1]:8000"]
FOREIGN_HOSTS = [b"localhost.evil.example", b"evil.example", b"localhost:", b"localhost:80a",
                 b"localhost:123456", b"::1", b"[::1", b"[::1]x", b"[::1]:", b"[127.0.0.1]",
                 b"127.1", b"0177.0.0.1", b"2130706433", b"10.0.0.1", b"[::2]",
                 b"[fe80::1%25lo]", b"127.0.0.1.nip.io", b"localhost\x00", b"l\xf6calhost",
                 b"localhost:\xd9\xa1", b""]


def _scope(host: bytes | None, client: str = "127.0.0.1", *, scheme: str = "http",
           path: str = "/polls/1/results", headers: Sequence[tuple[bytes, bytes]] = (),
           method: str = "GET") -> dict[str, Any]:
    head = ([(b"host", host)] if host is not None else []) + list(headers)
    return {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
            "method": method, "scheme": scheme, "server": ("127.0.0.1", 8000),
            "client": (client, 50000), "path": path, "raw_path": path.encode(),
            "root_path": "", "query_string": b"", "headers": head}


async def _send(app: ASGIApp, scope: dict[str, Any], body: bytes = b"") -> tuple[int, Any]:
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    await app(scope, receive, send)
    raw = b"".join(m.get("body", b"") for m in sent[1:])
    return sent[0]["status"], json.loads(raw) if raw.startswith(b"{") else raw


@pytest.mark.parametrize("host", LOCAL_HOSTS)
def test_loopback_host_names_this_machine_with_or_without_port(host: bytes) -> None:
    assert is_loopback_host(host)


@pytest.mark.parametrize("host", FOREIGN_HOSTS)
def test_lookalike_or_malformed_host_is_not_loopback(host: bytes) -> None:
    assert not is_loopback_host(host)


@pytest.mark.parametrize(("address", "loopback"), [
    ("127.0.0.1", True), ("127.9.9.9", True), ("::1", True), ("::ffff:127.0.0.1", True),
    ("10.0.0.1", False), ("::ffff:10.0.0.1", False), ("localhost", False), ("", False),
    ("testclient", False), ("0.0.0.0", False), ("::", False),
])
def test_loopback_peer_is_an_address_never_a_name(address: str, loopback: bool) -> None:
    assert is_loopback_ip(address) is loopback


@pytest.mark.rule("transport.local-http")
@pytest.mark.parametrize(("case", "scope"), [
    ("remote peer says Host: localhost", _scope(b"localhost", "203.0.113.7")),
    ("IPv6 remote peer says Host: [::1]", _scope(b"[::1]", "2001:db8::1")),
    ("loopback peer, public Host (proxy or DNS rebinding)", _scope(b"api.example.com")),
    ("loopback peer, lookalike Host", _scope(b"localhost.evil.example:8000")),
    ("proxy on this machine forwards with Host: localhost",
     _scope(b"localhost", headers=[(b"x-forwarded-for", b"203.0.113.7")])),
    ("proxy adds Forwarded", _scope(b"localhost", headers=[(b"forwarded", b"for=1.2.3.4")])),
    ("proxy adds Via", _scope(b"127.0.0.1", headers=[(b"via", b"1.1 nginx")])),
    ("two Host headers", _scope(b"localhost", headers=[(b"host", b"evil.example")])),
    ("no Host header", _scope(None)),
    ("no peer", {**_scope(b"localhost"), "client": None}),
])
def test_plain_http_is_local_only_from_a_loopback_peer_to_a_loopback_host(
    case: str, scope: dict[str, Any]
) -> None:
    assert not is_local(scope), case
    assert not Transport().secure(scope), case
    assert is_local(_scope(b"localhost")) and is_local(_scope(b"[::1]:8000", "::1"))


@pytest.mark.rule("transport.local-http", "transport.https")
async def test_middleware_accepts_a_local_plain_http_token_and_refuses_a_remote_one(
    store: TokenStore, caplog: pytest.LogCaptureFixture
) -> None:
    issued = await store.issue(NewTokens(client_id="web", subject="alice",
                                         scopes=frozenset({"polls:results"})))
    app = build_app(store)
    bearer = [(b"authorization", f"Bearer {issued.access_token}".encode())]
    caplog.set_level(logging.WARNING, "oauth_middleware.transport")
    local = [await _send(app, _scope(b"127.0.0.1:8000", headers=bearer)) for _ in range(3)]
    remote = await _send(app, _scope(b"localhost:8000", "198.51.100.9", headers=bearer))
    rebound = await _send(app, _scope(b"evil.example", headers=bearer))
    assert [status for status, _ in local] == [200, 200, 200]
    assert local[0][1]["user"] == "alice"
    for status, body in (remote, rebound):
        assert status == 400
        assert body == {"error": "invalid_request", "error_description": "HTTPS is required."}
    assert app.state.calls == ["/polls/1/results"] * 3
    warnings = [r.getMessage() for r in caplog.records if r.name == "oauth_middleware.transport"]
    assert len(warnings) == 1 and warnings[0].startswith("OAuthMiddleware: accepting plain HTTP")


@pytest.mark.rule("transport.local-http")
async def test_token_endpoint_serves_local_plain_http_and_refuses_it_from_elsewhere(
    store: TokenStore,
) -> None:
    app = build_server_app(store)
    client = await confidential(store, grant_types=["client_credentials"])
    form = (f"grant_type=client_credentials&client_id={client.client.client_id}"
            f"&client_secret={client.client_secret}").encode()
    head = [(b"content-type", b"application/x-www-form-urlencoded")]
    local = await _send(app, _scope(b"localhost:8000", path="/oauth/token/", method="POST",
                                    headers=head), form)
    remote = await _send(app, _scope(b"localhost:8000", "192.0.2.1", path="/oauth/token/",
                                     method="POST", headers=head), form)
    assert local[0] == 200 and local[1]["token_type"] == "Bearer"
    assert remote == (400, {"error": "invalid_request", "error_description": "HTTPS is required."})
    assert await store.resolve(local[1]["access_token"]) is not None


@pytest.mark.rule("transport.local-http")
@pytest.mark.parametrize(("issuer", "accepted"), [
    ("http://127.0.0.1:8000/oauth", True), ("http://localhost/oauth", True),
    ("http://[::1]:8000/oauth", True), ("http://api.example.com/oauth", False),
    ("http://localhost.evil.example/oauth", False), ("http://me@localhost/oauth", False),
])
def test_a_plain_http_issuer_needs_no_debug_only_on_this_machine(
    store: TokenStore, issuer: str, accepted: bool
) -> None:
    if accepted:
        assert AuthorizationServer(store=store, issuer=issuer, secret_key=KEY).config.issuer
        return
    with pytest.raises(ValueError, match="issuer must use https outside debug mode"):
        AuthorizationServer(store=store, issuer=issuer, secret_key=KEY)
