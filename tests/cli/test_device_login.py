"""``oauth-middleware device-login``: the reference device client (RFC 8628), over uvicorn."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from click.testing import CliRunner

from oauth_middleware import TokenStore, register_client
from oauth_middleware.cli import device_login
from oauth_middleware.cli.main import main
from oauth_middleware.security import digest
from oauth_middleware.server.grants.device_code import DEVICE_CODE
from tests.redis_process import RedisProcess, free_port
from tests.server.authorize_harness import USER_HEADER, read_page, seed
from tests.servers import UvicornProcess
from tests.store_helpers import redis_of


@pytest.fixture(scope="module")
def server(redis_server: RedisProcess) -> Iterator[UvicornProcess]:
    port = free_port()
    env = {"REDIS_URL": redis_server.url, "OM_ISSUER": f"http://127.0.0.1:{port}/oauth"}
    with UvicornProcess("tests.server.authorize_harness:uvicorn_app", "--factory",
                        "--workers", "2", "--log-level", "warning", env=env,
                        port=port) as running:
        with httpx.Client(base_url=running.url, timeout=20) as client:
            for _ in range(6):  # both workers have imported the app
                assert client.get("/oauth/.well-known/oauth-authorization-server").is_success
        yield running


def approve(server: UvicornProcess, user_code: str) -> None:
    """Alice enters the code at the device page and allows the device, over HTTP."""
    browser = {USER_HEADER: "alice"}
    with httpx.Client(base_url=server.url, timeout=10) as http:
        page = read_page(http.get("/oauth/device", params={"user_code": user_code},
                                  headers=browser).text)
        fields: dict[str, Any] = {i["name"]: i["value"] for i in page.inputs
                                  if i.get("type") == "hidden"}
        fields.update(scope=[c["value"] for c in page.checkboxes()], decision="approve")
        done = http.post("/oauth/device", data=fields, headers={
            **browser, "origin": server.url, "sec-fetch-site": "same-origin"})
        assert "Device connected" in done.text, done.text


@pytest.mark.real_redis_only
@pytest.mark.rule("device.polling")
async def test_device_login_prints_the_code_polls_and_prints_the_tokens(
        server: UvicornProcess, store: TokenStore, monkeypatch: pytest.MonkeyPatch) -> None:
    await seed(store)
    await register_client(store, "TV", "tv", public=True, grant_types=[DEVICE_CODE],
                          scopes_list=["polls:read"], register_unknown_scopes=False)
    answers: list[dict[str, Any]] = []
    real_call = device_login._call

    def recording(url: str, form: Any = None) -> tuple[int, dict[str, Any]]:
        status, body = real_call(url, form)
        answers.append(body)
        return status, body

    waits: list[float] = []

    def waiting(seconds: float) -> None:  # no time passes: the second wait is alice's turn
        waits.append(seconds)
        if len(waits) == 2:
            approve(server, next(a["user_code"] for a in answers if "user_code" in a))

    monkeypatch.setattr(device_login, "_call", recording)
    monkeypatch.setattr(device_login, "sleep", waiting)
    result = await asyncio.to_thread(CliRunner().invoke, main, [
        "device-login", "--issuer", f"{server.url}/oauth", "--client-id", "tv",
        "--scope", "polls:read"])
    assert result.exit_code == 0, result.output
    tokens = json.loads(result.stdout)
    assert tokens["token_type"] == "Bearer" and tokens["scope"] == "polls:read"
    user_code = next(a["user_code"] for a in answers if "user_code" in a)
    assert f"enter the code {user_code}" in result.stderr
    assert waits == [5, 5]
    assert [a.get("error") for a in answers[2:]] == ["authorization_pending", None]
    record = await store.resolve(tokens["access_token"])
    assert record is not None and record.subject == "alice" and record.client_id == "tv"
    device_code = next(a["device_code"] for a in answers if "device_code" in a)
    state = await redis_of(store).hget(store.keys.device(digest(device_code)), "state")
    assert state == b"issued"


@pytest.mark.rule("device.polling")
def test_device_login_waits_five_seconds_longer_after_each_slow_down(
        monkeypatch: pytest.MonkeyPatch) -> None:
    script = iter([
        (200, {"issuer": "https://as.example/oauth",
               "device_authorization_endpoint": "https://as.example/oauth/device_authorization/",
               "token_endpoint": "https://as.example/oauth/token/"}),
        (200, {"device_code": "d" * 43, "user_code": "WDJB-MJHT", "interval": 5,
               "expires_in": 600, "verification_uri": "https://as.example/oauth/device"}),
        (400, {"error": "authorization_pending"}), (400, {"error": "slow_down"}),
        (400, {"error": "slow_down"}), (400, {"error": "authorization_pending"}),
        (200, {"access_token": "t", "token_type": "Bearer"}),
    ])
    waits: list[float] = []
    monkeypatch.setattr(device_login, "_call", lambda url, form=None: next(script))
    monkeypatch.setattr(device_login, "sleep", waits.append)
    result = CliRunner().invoke(main, ["device-login", "--issuer", "https://as.example/oauth",
                                       "--client-id", "tv"])
    assert result.exit_code == 0, result.output
    assert waits == [5, 5, 10, 15, 15]
    assert json.loads(result.stdout) == {"access_token": "t", "token_type": "Bearer"}


def test_device_login_stops_on_access_denied_and_refuses_plain_http_elsewhere(
        monkeypatch: pytest.MonkeyPatch) -> None:
    result = CliRunner().invoke(main, ["device-login", "--issuer", "http://as.example/oauth",
                                       "--client-id", "tv"])
    assert result.exit_code == 1 and "not an https URL" in result.stderr
    script = iter([
        (200, {"issuer": "https://as.example", "device_authorization_endpoint": "https://as.example/d",
               "token_endpoint": "https://as.example/t"}),
        (200, {"device_code": "d" * 43, "user_code": "WDJB-MJHT", "interval": 5,
               "verification_uri": "https://as.example/device"}),
        (400, {"error": "access_denied"}),
    ])
    monkeypatch.setattr(device_login, "_call", lambda url, form=None: next(script))
    monkeypatch.setattr(device_login, "sleep", lambda seconds: None)
    denied = CliRunner().invoke(main, ["device-login", "--issuer", "https://as.example",
                                       "--client-id", "tv"])
    assert denied.exit_code == 1 and "access_denied" in denied.stderr
    assert denied.stdout == ""


@pytest.mark.real_redis_only
@pytest.mark.rule("device.single-use")
async def test_fifty_concurrent_polls_over_two_workers_give_one_token(
        server: UvicornProcess, store: TokenStore) -> None:
    await seed(store)
    await register_client(store, "TV", "tv", public=True, grant_types=[DEVICE_CODE],
                          scopes_list=["polls:read"], register_unknown_scopes=False)
    async with httpx.AsyncClient(base_url=server.url, timeout=20) as http:
        codes = (await http.post("/oauth/device_authorization", data={
            "client_id": "tv", "scope": "polls:read"})).json()
        await asyncio.to_thread(approve, server, codes["user_code"])
        form = {"grant_type": DEVICE_CODE, "device_code": codes["device_code"], "client_id": "tv"}
        answers = await asyncio.gather(*(http.post("/oauth/token", data=form) for _ in range(50)))
    assert sorted(r.status_code for r in answers) == [200] + [400] * 49
    assert {r.json()["error"] for r in answers if r.status_code == 400} == {"invalid_grant"}
    winner = next(r.json() for r in answers if r.status_code == 200)
    record = await store.resolve(winner["access_token"])
    assert record is not None and record.subject == "alice"
