"""The device authorization grant (RFC 8628): codes, the verification page, polling."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from starlette.types import Message

from oauth_middleware import TokenStore, register_client
from oauth_middleware.security import digest
from oauth_middleware.server.grants.device_code import DEVICE_CODE
from oauth_middleware.toolbox import remove_client
from tests.conftest import FakeClock
from tests.faults import inject
from tests.server.authorize_harness import (
    ISSUER,
    USER_HEADER,
    Harness,
    Page,
    assert_page,
    open_harness,
)
from tests.server.token_harness import assert_error, assert_no_store
from tests.store_helpers import redis_of, texts

DEVICE_PATH = "/oauth/device"
START = "/oauth/device_authorization/"
TOKEN = "/oauth/token/"
BROWSER = {"origin": "https://testserver", "sec-fetch-site": "same-origin"}
USER_CODE = re.compile(r"[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}")


@pytest.fixture
async def harness(store: TokenStore) -> AsyncIterator[Harness]:
    async with open_harness(store) as h:
        await register_client(store, "Living Room TV", "tv", public=True,
                              grant_types=[DEVICE_CODE, "refresh_token"],
                              scopes_list=["polls:read", "polls:vote"],
                              register_unknown_scopes=False)
        yield h


async def start(h: Harness, **extra: str) -> dict[str, Any]:
    response = await h.http.post(START, data={"client_id": "tv", "scope": "polls:read polls:vote",
                                              **extra})
    assert response.status_code == 200, response.text
    assert_no_store(response)
    body: dict[str, Any] = response.json()
    return body


async def poll(h: Harness, device_code: str, client_id: str = "tv") -> httpx.Response:
    return await h.http.post(TOKEN, data={"grant_type": DEVICE_CODE, "device_code": device_code,
                                          "client_id": client_id})


async def open_page(h: Harness, user_code: str, user: str = "alice") -> Page:
    response = await h.http.get(DEVICE_PATH, params={"user_code": user_code},
                                headers={USER_HEADER: user})
    return assert_page(response, 200)


async def decide(h: Harness, page: Page, decision: str = "approve", *, user: str = "alice",
                 headers: dict[str, str] | None = None, drop: str = "") -> httpx.Response:
    fields: dict[str, str | list[str]] = {
        i["name"]: i["value"] for i in page.inputs if i.get("type") == "hidden"
        and i["name"] != drop}
    fields.update({"scope": [c["value"] for c in page.checkboxes()], "decision": decision})
    return await h.http.post(page.forms[0]["action"], data=fields,
                             headers={**BROWSER, USER_HEADER: user, **(headers or {})})


async def state(h: Harness, device_code: str) -> dict[str, str]:
    raw = await redis_of(h.store).hgetall(h.store.keys.device(digest(device_code)))
    return dict(zip(texts(list(raw)), texts(list(raw.values())), strict=True))


@pytest.mark.rule("device.codes")
async def test_device_authorization_answers_codes_and_where_to_enter_them(
        harness: Harness) -> None:
    body = await start(harness)
    assert set(body) == {"device_code", "user_code", "verification_uri",
                         "verification_uri_complete", "expires_in", "interval"}
    assert USER_CODE.fullmatch(body["user_code"])
    assert len(body["device_code"]) >= 43
    assert body["verification_uri"] == f"{ISSUER}/device"
    assert body["verification_uri_complete"] == f"{ISSUER}/device?user_code={body['user_code']}"
    assert (body["expires_in"], body["interval"]) == (600, 5)
    stored = await state(harness, body["device_code"])
    assert stored["state"] == "pending" and stored["scopes"] == "polls:read polls:vote"
    redis = redis_of(harness.store)
    names = texts(list(await redis.keys("*")))
    dump = [name.encode() + (await redis.dump(name) or b"") for name in names]
    raw_code = body["user_code"].replace("-", "").encode()
    assert dump and not [d for d in dump if body["device_code"].encode() in d or raw_code in d]


@pytest.mark.rule("device.codes")
async def test_a_client_not_allowed_the_device_grant_is_unauthorized_client(
        harness: Harness) -> None:
    response = await harness.http.post(START, data={"client_id": "spa", "scope": "polls:read"})
    assert_error(response, 400, "unauthorized_client")
    bad_scope = await harness.http.post(START, data={"client_id": "tv", "scope": "polls:secret"})
    assert_error(bad_scope, 400, "invalid_scope")
    assert await redis_of(harness.store).keys(f"{harness.store.keys.prefix}device:*") == []


@pytest.mark.rule("device.codes")
async def test_metadata_advertises_the_device_endpoint_and_grant(harness: Harness) -> None:
    doc = (await harness.http.get("/oauth/.well-known/oauth-authorization-server")).json()
    assert doc["device_authorization_endpoint"] == f"{ISSUER}/device_authorization/"
    assert DEVICE_CODE in doc["grant_types_supported"]


@pytest.mark.rule("device.codes")
async def test_a_clients_waiting_device_codes_are_bounded(store: TokenStore) -> None:
    made = [await store.device.create(client_id="tv", client_generation="", scopes=("a",),
                                      audience=(), lifetime=600, interval=5, cap=3)
            for _ in range(5)]
    live = [await store.device.by_user_code(m.user_code) for m in made]
    assert [r is not None for r in live] == [False, False, True, True, True]
    assert await redis_of(store).zcard(store.keys.device_index("tv")) == 3
    assert len(await redis_of(store).keys(f"{store.keys.prefix}usercode:*")) == 3


@pytest.mark.rule("device.polling")
async def test_polling_is_pending_and_too_fast_polling_slows_the_device_down(
        harness: Harness, clock: FakeClock) -> None:
    code = (await start(harness))["device_code"]
    assert_error(await poll(harness, code), 400, "authorization_pending")
    assert_error(await poll(harness, code), 400, "slow_down")
    assert (await state(harness, code))["interval"] == "10"
    clock.advance(6)  # past the old interval, not the new one
    assert_error(await poll(harness, code), 400, "slow_down")
    assert (await state(harness, code))["interval"] == "15"
    clock.advance(15)
    assert_error(await poll(harness, code), 400, "authorization_pending")


@pytest.mark.rule("device.polling")
async def test_concurrent_fast_polls_each_raise_the_interval_once(
        harness: Harness) -> None:
    code = (await start(harness))["device_code"]
    assert_error(await poll(harness, code), 400, "authorization_pending")
    answers = await asyncio.gather(*(poll(harness, code) for _ in range(20)))
    assert {r.json()["error"] for r in answers} == {"slow_down"}
    assert (await state(harness, code))["interval"] == str(5 + 20 * 5)


@pytest.mark.rule("device.page.confirm")
@pytest.mark.rule("device.single-use")
async def test_alice_approves_and_the_device_gets_one_token_response(harness: Harness) -> None:
    body = await start(harness)
    typed = body["user_code"].lower().replace("-", " ")  # as a person might type it
    page = await open_page(harness, typed)
    assert "Living Room TV" in page.text and "Read your polls" in page.text
    assert body["user_code"] in page.text
    assert_error(await poll(harness, body["device_code"]), 400, "authorization_pending")
    done = await decide(harness, page)
    assert "Device connected" in assert_page(done, 200).text
    tokens = await poll(harness, body["device_code"])
    assert tokens.status_code == 200, tokens.text
    assert_no_store(tokens)
    issued = tokens.json()
    assert issued["token_type"] == "Bearer" and issued["scope"] == "polls:read polls:vote"
    record = await harness.store.resolve(issued["access_token"])
    assert record is not None and record.subject == "alice" and record.client_id == "tv"
    assert_error(await poll(harness, body["device_code"]), 400, "invalid_grant")


@pytest.mark.rule("device.single-use")
async def test_fifty_concurrent_polls_after_approval_give_exactly_one_token(
        harness: Harness) -> None:
    body = await start(harness)
    await decide(harness, await open_page(harness, body["user_code"]))
    answers = await asyncio.gather(*(poll(harness, body["device_code"]) for _ in range(50)))
    assert sorted(r.status_code for r in answers) == [200] + [400] * 49
    assert {r.json().get("error") for r in answers if r.status_code == 400} == {"invalid_grant"}
    assert (await state(harness, body["device_code"]))["state"] == "issued"


@pytest.mark.rule("device.polling")
async def test_a_denied_device_gets_access_denied(harness: Harness) -> None:
    body = await start(harness)
    done = await decide(harness, await open_page(harness, body["user_code"]), "deny")
    assert "Device refused" in assert_page(done, 200).text
    assert_error(await poll(harness, body["device_code"]), 400, "access_denied")


@pytest.mark.rule("device.polling")
async def test_an_expired_device_code_is_expired_token_and_its_page_is_gone(
        harness: Harness, clock: FakeClock) -> None:
    body = await start(harness)
    page = await open_page(harness, body["user_code"])
    clock.advance(601)
    assert_error(await poll(harness, body["device_code"]), 400, "expired_token")
    assert assert_page(await decide(harness, page), 403)
    response = await harness.http.get(DEVICE_PATH, params={"user_code": body["user_code"]},
                                      headers={USER_HEADER: "alice"})
    assert "unknown, expired or used" in assert_page(response, 400).text


@pytest.mark.rule("device.polling")
async def test_another_clients_poll_finds_nothing_and_changes_nothing(
        harness: Harness) -> None:
    await register_client(harness.store, "Other TV", "tv2", public=True,
                          grant_types=[DEVICE_CODE], scopes_list=["polls:read"],
                          register_unknown_scopes=False)
    body = await start(harness)
    await decide(harness, await open_page(harness, body["user_code"]))
    assert_error(await poll(harness, body["device_code"], "tv2"), 400, "invalid_grant")
    assert (await state(harness, body["device_code"]))["state"] == "approved"
    assert (await poll(harness, body["device_code"])).status_code == 200


@pytest.mark.rule("device.page.login")
async def test_the_page_sends_an_anonymous_person_to_the_login(harness: Harness) -> None:
    body = await start(harness)
    response = await harness.http.get(DEVICE_PATH, params={"user_code": body["user_code"]})
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login?next=%2Foauth%2Fdevice%3Fuser_code")


@pytest.mark.rule("device.page.login")
async def test_a_bearer_token_at_the_device_page_signs_nobody_in(harness: Harness) -> None:
    body = await start(harness)
    page = await open_page(harness, body["user_code"])
    for response in (
        await harness.http.get(DEVICE_PATH, params={"user_code": body["user_code"]},
                               headers={"authorization": "Bearer abc"}),
        await decide(harness, page, headers={"authorization": "Bearer abc"}),
    ):
        assert "access token cannot sign anyone in" in assert_page(response, 400).text
    assert (await state(harness, body["device_code"]))["state"] == "pending"


@pytest.mark.rule("device.page.confirm")
async def test_verification_uri_complete_only_prefills_the_page(harness: Harness) -> None:
    body = await start(harness)
    path = body["verification_uri_complete"].removeprefix("https://testserver")
    page = assert_page(await harness.http.get(path, headers={USER_HEADER: "alice"}), 200)
    assert [b["value"] for b in page.buttons] == ["approve", "deny"]
    assert (await state(harness, body["device_code"]))["state"] == "pending"
    assert_error(await poll(harness, body["device_code"]), 400, "authorization_pending")


@pytest.mark.rule("device.page.csrf")
async def test_a_decision_without_the_users_csrf_token_or_from_elsewhere_is_refused(
        harness: Harness) -> None:
    body = await start(harness)
    page = await open_page(harness, body["user_code"])
    refused = [
        await decide(harness, page, drop="csrf_token"),
        await decide(harness, page, user="mallory"),
        await decide(harness, page, headers={"sec-fetch-site": "cross-site"}),
        await decide(harness, page, headers={"origin": "https://evil.example"}),
    ]
    for response in refused:
        assert_page(response, 403)
    assert (await state(harness, body["device_code"]))["state"] == "pending"


@pytest.mark.rule("device.page.csrf")
async def test_approve_and_deny_racing_leave_exactly_one_decision(harness: Harness) -> None:
    body = await start(harness)
    page = await open_page(harness, body["user_code"])
    answers = await asyncio.gather(*(decide(harness, page, d) for d in ["approve", "deny"] * 10))
    assert sorted(r.status_code for r in answers) == [200] + [403] * 19
    winner = next(d for d, r in zip(["approve", "deny"] * 10, answers, strict=True)
                  if r.status_code == 200)
    outcome = await poll(harness, body["device_code"])
    if winner == "approve":
        assert outcome.status_code == 200
    else:
        assert_error(outcome, 400, "access_denied")


@pytest.mark.rule("device.user-code.brute-force")
async def test_wrong_user_codes_are_limited_per_address(harness: Harness) -> None:
    body = await start(harness)
    headers = {USER_HEADER: "mallory"}
    answers = await asyncio.gather(*(
        harness.http.get(DEVICE_PATH, params={"user_code": "BBBB-BBB" + c}, headers=headers)
        for c in "CDFGHJKLMNPQRSTVWXZC" * 2))
    statuses = sorted(r.status_code for r in answers)
    assert statuses == [400] * 10 + [429] * 30
    assert all(int(r.headers["retry-after"]) > 0 for r in answers if r.status_code == 429)
    right = await harness.http.get(DEVICE_PATH, params={"user_code": body["user_code"]},
                                   headers=headers)
    assert_page(right, 429)
    other = httpx.AsyncClient(transport=httpx.ASGITransport(app=harness.app,
                                                            client=("192.0.2.7", 1)),
                              base_url="https://testserver")
    async with other:
        elsewhere = await other.get(DEVICE_PATH, params={"user_code": body["user_code"]},
                                    headers={USER_HEADER: "alice"})
    assert "Living Room TV" in assert_page(elsewhere, 200).text


@pytest.mark.rule("device.user-code.brute-force")
async def test_malformed_user_codes_and_polls_are_refused_without_a_server_error(
        harness: Harness) -> None:
    for typed in ("x" * 5000, "AEIOU123", "\x00", "BBBB-BBBB&user_code=CCCC-CCCC"):
        response = await harness.http.get(DEVICE_PATH, params={"user_code": typed},
                                          headers={USER_HEADER: "alice"})
        assert response.status_code in (400, 413), response.text
        assert_page(response, response.status_code)
    repeated = await harness.http.get(f"{DEVICE_PATH}?user_code=a&user_code=b",
                                      headers={USER_HEADER: "alice"})
    assert_page(repeated, 400)
    missing = await harness.http.post(TOKEN, data={"grant_type": DEVICE_CODE, "client_id": "tv"})
    assert_error(missing, 400, "invalid_request")
    unknown = await poll(harness, "x" * 43)
    assert_error(unknown, 400, "invalid_grant")


@pytest.mark.rule("device.polling")
async def test_a_device_code_dies_with_its_client_registration(harness: Harness) -> None:
    body = await start(harness)
    await decide(harness, await open_page(harness, body["user_code"]))
    await remove_client(harness.store, "tv")
    await register_client(harness.store, "Living Room TV", "tv", public=True,
                          grant_types=[DEVICE_CODE], scopes_list=["polls:read"],
                          register_unknown_scopes=False)
    assert_error(await poll(harness, body["device_code"]), 400, "invalid_grant")
    assert (await state(harness, body["device_code"]))["state"] == "approved"


@pytest.mark.not_on_cluster  # faults are injected into one node's client
@pytest.mark.rule("redis.token-503")
@pytest.mark.rule("redis.auth-503")
async def test_redis_down_gives_503s_at_the_page_and_the_poll_never_invalid_grant(
        harness: Harness) -> None:
    body = await start(harness)
    plan = await inject(harness.store)
    plan.arm(1, once=False)
    down = await poll(harness, body["device_code"])
    assert_error(down, 503, "temporarily_unavailable")
    assert down.headers["retry-after"] == "5"
    page = await harness.http.get(DEVICE_PATH, params={"user_code": body["user_code"]},
                                  headers={USER_HEADER: "alice"})
    assert_page(page, 503)
    plan.disarm()
    assert_error(await poll(harness, body["device_code"]), 400, "authorization_pending")


@pytest.mark.rule("responses.5xx-generic")
async def test_a_failing_device_page_answers_a_generic_500(
        harness: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    async def broken(code: str) -> None:
        raise RuntimeError("secret-detail WDJBMJHT")

    monkeypatch.setattr(harness.store.device, "by_user_code", broken)
    response = await harness.http.get(DEVICE_PATH, params={"user_code": "WDJB-MJHT"},
                                      headers={USER_HEADER: "alice"})
    page = assert_page(response, 500)
    assert "secret-detail" not in response.text and "Server error" in page.text


@pytest.mark.rule("rest.no-secret-in-logs")
async def test_the_user_code_is_blanked_in_the_query_the_access_log_prints(
        harness: Harness) -> None:
    body = await start(harness)
    sent: list[Message] = []
    scope: dict[str, Any] = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
        "scheme": "https", "server": ("testserver", 443), "client": ("127.0.0.1", 1),
        "path": "/oauth/device", "raw_path": b"/oauth/device", "root_path": "",
        "query_string": f"user_code={body['user_code']}".encode(),
        "headers": [(b"host", b"testserver"), (USER_HEADER.encode(), b"alice")]}

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    await harness.app(scope, receive, send)
    assert sent[0]["status"] == 200
    assert body["user_code"].encode() in b"".join(m.get("body", b"") for m in sent[1:])
    assert scope["query_string"] == b"user_code=redacted"


@pytest.mark.rule("device.codes")
async def test_a_confidential_client_authenticates_and_its_resource_binds_the_audience(
        harness: Harness) -> None:
    registered = await register_client(
        harness.store, "Kiosk", "kiosk", public=False, grant_types=[DEVICE_CODE],
        scopes_list=["polls:read"], register_unknown_scopes=False,
        resources=["https://api.example/"])
    assert registered.client_secret is not None
    form = {"scope": "polls:read", "resource": "https://api.example/"}
    wrong = await harness.http.post(START, data=form, auth=("kiosk", "wrong"))
    assert_error(wrong, 401, "invalid_client")
    assert wrong.headers["www-authenticate"] == 'Basic realm="oauth"'
    codes = (await harness.http.post(START, data=form,
                                      auth=("kiosk", registered.client_secret))).json()
    await decide(harness, await open_page(harness, codes["user_code"]))
    bare = await harness.http.post(TOKEN, data={"grant_type": DEVICE_CODE,
                                                "device_code": codes["device_code"],
                                                "client_id": "kiosk"})
    assert_error(bare, 401, "invalid_client")
    tokens = await harness.http.post(TOKEN, data={"grant_type": DEVICE_CODE,
                                                  "device_code": codes["device_code"]},
                                     auth=("kiosk", registered.client_secret))
    assert tokens.status_code == 200, tokens.text
    record = await harness.store.resolve(tokens.json()["access_token"])
    assert record is not None and record.audience == frozenset({"https://api.example/"})


@pytest.mark.rule("device.page.confirm")
async def test_the_person_can_only_narrow_the_scopes_and_none_ticked_is_a_denial(
        harness: Harness) -> None:
    first, second = await start(harness), await start(harness)
    page = await open_page(harness, first["user_code"])
    fields = {i["name"]: i["value"] for i in page.inputs if i.get("type") == "hidden"}
    narrowed = await harness.http.post(DEVICE_PATH, data={
        **fields, "scope": "polls:read", "decision": "approve"},
        headers={**BROWSER, USER_HEADER: "alice"})
    assert "Device connected" in assert_page(narrowed, 200).text
    assert (await poll(harness, first["device_code"])).json()["scope"] == "polls:read"
    page = await open_page(harness, second["user_code"])
    fields = {i["name"]: i["value"] for i in page.inputs if i.get("type") == "hidden"}
    widened = await harness.http.post(DEVICE_PATH, data={
        **fields, "scope": ["polls:read", "polls:secret"], "decision": "approve"},
        headers={**BROWSER, USER_HEADER: "alice"})
    assert_page(widened, 400)
    none = await harness.http.post(DEVICE_PATH, data={**fields, "decision": "approve"},
                                   headers={**BROWSER, USER_HEADER: "alice"})
    assert "Device refused" in assert_page(none, 200).text
    assert_error(await poll(harness, second["device_code"]), 400, "access_denied")
