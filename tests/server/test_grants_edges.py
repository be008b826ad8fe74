"""The grants' edges (RFC 6749 §3.3, §4.1.3, §6): what each refusal says and logs, exact
scope bounds, a client removed mid-request, and the reads a request's own scopes cost."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest

from oauth_middleware.models import Scope
from oauth_middleware.security import fingerprint
from oauth_middleware.server import ThrottlePolicy
from oauth_middleware.store import NewTokens, TokenStore
from oauth_middleware.toolbox import RegisteredClient, remove_client, update_client
from tests.conftest import FakeClock
from tests.server.token_harness import (
    TOKEN_PATH,
    assert_error,
    assert_invalid_client,
    auth_of,
    build_app,
    code_form,
    code_tokens,
    confidential,
    http,
    new_code,
)
from tests.store_helpers import ALL_SCRIPTS, redis_of

CODE_REFUSED = "The authorization code is invalid, expired or used."
REFRESH_REFUSED = "The refresh token is invalid, expired or revoked."


async def _token(client: httpx.AsyncClient, registered: RegisteredClient,
                 **data: str) -> httpx.Response:
    return await client.post(TOKEN_PATH, data=data, headers=auth_of(registered))


async def _refresh(client: httpx.AsyncClient, registered: RegisteredClient, token: str,
                   **data: str) -> httpx.Response:
    return await _token(client, registered, grant_type="refresh_token", refresh_token=token,
                        **data)


def _warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records
            if r.name == "oauth_middleware.server" and r.levelno == logging.WARNING]


# --- refusals: one body whatever the reason, a log line naming no secret ---------------------

async def test_refresh_refusals_look_identical_and_a_replay_logs_only_a_fingerprint(
    client: httpx.AsyncClient, store: TokenStore, web: RegisteredClient, clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Unknown, foreign, replayed and expired refresh tokens get one body, so a caller
    learns nothing about which; the replay is logged by fingerprint and client id."""
    other = await confidential(store, "other")
    first = await code_tokens(client, store, web)
    rotated = (await _refresh(client, web, first["refresh_token"])).json()
    answers = [await _refresh(client, web, "a" * 22 + "." + "b" * 43),
               await _refresh(client, other, rotated["refresh_token"])]
    with caplog.at_level(logging.WARNING, logger="oauth_middleware.server"):
        answers.append(await _refresh(client, web, first["refresh_token"]))
    later = await code_tokens(client, store, web)
    clock.advance(31 * 24 * 3600)
    answers.append(await _refresh(client, web, later["refresh_token"]))
    for response in answers:
        assert assert_error(response, 400, "invalid_grant")["error_description"] == REFRESH_REFUSED
    assert len({response.content for response in answers}) == 1
    assert _warnings(caplog) == [f"refresh token {fingerprint(first['refresh_token'])} "
                                 "reused by client web: grant revoked"]
    assert first["refresh_token"] not in caplog.text


async def test_code_refusals_look_identical_and_a_replay_logs_only_a_fingerprint(
    client: httpx.AsyncClient, store: TokenStore, web: RegisteredClient,
    caplog: pytest.LogCaptureFixture,
) -> None:
    other = await confidential(store, "other")
    code = await new_code(store, "web")
    assert (await client.post(TOKEN_PATH, data=code_form(code), headers=auth_of(web))
            ).status_code == 200
    answers = [await client.post(TOKEN_PATH, data=code_form("c" * 43), headers=auth_of(web)),
               await client.post(TOKEN_PATH, data=code_form(code), headers=auth_of(other))]
    with caplog.at_level(logging.WARNING, logger="oauth_middleware.server"):
        answers.append(await client.post(TOKEN_PATH, data=code_form(code), headers=auth_of(web)))
    for response in answers:
        assert assert_error(response, 400, "invalid_grant")["error_description"] == CODE_REFUSED
    assert len({response.content for response in answers}) == 1
    assert _warnings(caplog) == [f"authorization code {fingerprint(code)} "
                                 "replayed by client web: grant revoked"]
    assert code not in caplog.text


async def test_a_redirect_uri_mismatch_says_so(
    client: httpx.AsyncClient, store: TokenStore, web: RegisteredClient
) -> None:
    code = await new_code(store, "web")
    response = await client.post(TOKEN_PATH, headers=auth_of(web), data=code_form(
        code, redirect_uri="https://app.example/other"))
    body = assert_error(response, 400, "invalid_grant")
    assert body["error_description"] == "The redirect_uri does not match the authorization request."


async def test_a_missing_parameter_is_named(
    client: httpx.AsyncClient, web: RegisteredClient
) -> None:
    body = assert_error(await _token(client, web, grant_type="refresh_token"),
                        400, "invalid_request")
    assert body["error_description"] == "The refresh_token parameter is missing."


# --- scopes -----------------------------------------------------------------------------------

@pytest.mark.rule("token.refresh.scope-narrow")
async def test_a_refresh_may_ask_for_exactly_its_scope_but_not_one_more(
    client: httpx.AsyncClient, store: TokenStore, web: RegisteredClient
) -> None:
    first = await code_tokens(client, store, web, scopes=["read", "write"])
    same = await _refresh(client, web, first["refresh_token"], scope="write read")
    assert same.status_code == 200, same.text
    assert same.json()["scope"] == "read write"
    wider = await _refresh(client, web, same.json()["refresh_token"], scope="read write admin")
    body = assert_error(wider, 400, "invalid_scope")
    assert body["error_description"] == "A refresh may narrow the scope, never widen it."


async def test_scope_is_split_on_spaces_only(
    client: httpx.AsyncClient, web: RegisteredClient
) -> None:
    """RFC 6749 §3.3: "space-delimited" (%x20); other Unicode spaces delimit nothing, so
    they make a malformed scope (control characters are refused before, by the form)."""
    both = await _token(client, web, grant_type="client_credentials", scope="read write")
    assert both.status_code == 200, both.text
    assert both.json()["scope"] == "read write"
    for scope in ("read\xa0write", "read\u3000write"):
        body = assert_error(await _token(client, web, grant_type="client_credentials",
                                         scope=scope), 400, "invalid_scope")
        assert body["error_description"] == "A requested scope is malformed."


async def test_scopes_taken_from_the_client_since_the_grant_are_not_refreshed(
    client: httpx.AsyncClient, store: TokenStore, web: RegisteredClient
) -> None:
    """A refresh issues what the client may still have, not what it had (RFC 6749 §3.3)."""
    first = await code_tokens(client, store, web, scopes=["read", "write"])
    await update_client(store, "web", scopes_list=["read"])
    narrowed = await _refresh(client, web, first["refresh_token"])
    assert narrowed.status_code == 200, narrowed.text
    assert narrowed.json()["scope"] == "read"
    await update_client(store, "web", scopes_list=["write"])
    none_left = await _refresh(client, web, narrowed.json()["refresh_token"], scope="read")
    body = assert_error(none_left, 400, "invalid_scope")
    assert body["error_description"] == "None of the granted scopes is available any more."


async def test_a_client_registered_without_scopes_refreshes_every_scope_it_was_granted(
    client: httpx.AsyncClient, store: TokenStore
) -> None:
    """No scope list on the client means no restriction (``Client.scopes`` empty)."""
    await store.save_scope(Scope("read", "Read"))
    anything = await confidential(store, "anything", scopes=())
    first = await code_tokens(client, store, anything, scopes=["read"])
    again = await _refresh(client, anything, first["refresh_token"])
    assert again.status_code == 200, again.text
    assert again.json()["scope"] == "read"


async def test_a_refresh_keeps_the_grants_subject_type(
    client: httpx.AsyncClient, store: TokenStore, web: RegisteredClient
) -> None:
    """A grant issued to a client acting for itself stays the client's: never a user's of
    the same name."""
    issued = await store.issue(NewTokens(client_id="web", subject="web", subject_type="client",
                                         scopes=frozenset({"read"}), refresh=True))
    assert issued.refresh_token is not None
    response = await _refresh(client, web, issued.refresh_token)
    assert response.status_code == 200, response.text
    record = await store.resolve(response.json()["access_token"])
    assert record is not None
    assert (record.subject, record.subject_type, record.user) == ("web", "client", None)


# --- a client removed while its request runs ---------------------------------------------------

@pytest.mark.rule("revoke.client-removed")
async def test_a_client_removed_during_its_password_grant_gets_no_token(
    store: TokenStore,
) -> None:
    """Issuing re-checks the client's registration: one removed between authenticating and
    issuing (here, while the password hook runs) is refused and nothing is stored."""
    async def verify(username: str, password: str) -> str | None:
        await remove_client(store, "pw")
        return "user-alice"

    pw = await confidential(store, "pw", grant_types=["password"])
    async with http(build_app(store, verify_password=verify)) as client:
        response = await _token(client, pw, grant_type="password", username="alice",
                                password="x", scope="read")
    assert_invalid_client(response)
    assert await store.list_tokens(user="user-alice") == (0, [])
    assert await store.get_client("pw") is None


# --- cost: a request's own scopes are read along with its client ------------------------------

@contextmanager
def _round_trips(store: TokenStore) -> Iterator[list[int]]:
    pool = redis_of(store).connection_pool
    original: Any = pool.get_connection
    trips: list[int] = []

    async def counting(*args: Any, **kwargs: Any) -> Any:
        trips.append(1)
        return await original(*args, **kwargs)

    pool.get_connection = counting  # type: ignore[method-assign]
    try:
        yield trips
    finally:
        pool.get_connection = original  # type: ignore[method-assign]


async def _cost(client: httpx.AsyncClient, store: TokenStore, registered: RegisteredClient,
                data: dict[str, str]) -> int:
    with _round_trips(store) as trips:
        response = await _token(client, registered, **data)
    assert response.status_code == 200, response.text
    return len(trips)


@pytest.mark.not_on_cluster  # counts round trips on one node's pool
async def test_a_first_request_naming_its_scopes_reads_them_with_the_client(
    store: TokenStore,
) -> None:
    """A client's first request knows no hint yet: the scopes it names are read in the
    same round trip as the client, for up to 32 of them, whichever grant asks. Three
    round trips: the read, the throttle counters, the write (see test_grants.py); the
    password grant's attempt takes two more (reserved, then settled: server/throttle.py).
    One scope more than 32 and the scopes cost a round trip of their own."""
    for script in ALL_SCRIPTS:
        await redis_of(store).script_load(script.source)
    many = [f"s{i:02}" for i in range(33)]
    for name in ("read", "write", *many):
        await store.save_scope(Scope(name, name))

    async def fresh(client_id: str, **options: Any) -> RegisteredClient:
        return await confidential(store, client_id, scopes=("read", "write", *many), **options)

    async def verify(username: str, password: str) -> str | None:
        return "user-alice"

    app = build_app(store, verify_password=verify, throttle=ThrottlePolicy())
    async with http(app) as client:
        refreshing = await fresh("r")
        issued = await store.issue(NewTokens(client_id="r", subject="alice", refresh=True,
                                             scopes=frozenset({"read", "write"})))
        assert issued.refresh_token is not None
        cases = [
            (await fresh("cc"), {"grant_type": "client_credentials", "scope": "read write"}),
            (refreshing, {"grant_type": "refresh_token", "scope": "write",
                                "refresh_token": issued.refresh_token}),
            (await fresh("pw", grant_types=["password"]),
             {"grant_type": "password", "username": "alice", "password": "x", "scope": "read"}),
            (await fresh("max"), {"grant_type": "client_credentials",
                                  "scope": " ".join(many[:32])}),
        ]
        costs = [await _cost(client, store, registered, data) for registered, data in cases]
        over = await _cost(client, store, await fresh("over"), {
            "grant_type": "client_credentials", "scope": " ".join(many)})
    # The refresh is this process's first durable write: on a real Redis it first asks the
    # primary for its replicas (INFO), once (store/_gateway/durability.py).
    assert costs == [3, 3 if store.embedded else 4, 5, 3]
    assert over == 4
