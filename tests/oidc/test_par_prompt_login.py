"""A pushed request with ``prompt=login`` (RFC 9126 §4; OpenID Connect Core 1.0 §3.1.2.1),
end to end: the login round trip keeps only the ``request_uri`` and a signed mark, the
request is honoured once the person logged in again, and nowhere else; every backend."""

from __future__ import annotations

from collections.abc import AsyncIterator
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from oauth_middleware import TokenStore
from oauth_middleware.toolbox import update_client
from tests.conftest import FakeClock
from tests.oidc.harness import CHALLENGE, OP, RP, RP_REDIRECT, RP_SECRET, open_op
from tests.server.authorize_harness import answer, assert_page

PAR = "/oauth/par/"
USER = "x-test-user"


@pytest.fixture
async def op(store: TokenStore) -> AsyncIterator[OP]:
    async with open_op(store) as provider:
        # a client that requires PAR: a request rebuilt from its parameters is refused
        await update_client(store, RP, require_pushed_authorization_requests=True)
        yield provider


async def push(op: OP, **extra: str) -> str:
    response = await op.h.http.post(PAR, auth=(RP, RP_SECRET), data={
        "response_type": "code", "redirect_uri": RP_REDIRECT, "scope": "openid",
        "state": "st", "nonce": "n-1", "code_challenge": CHALLENGE,
        "code_challenge_method": "S256", "prompt": "login", **extra})
    assert response.status_code == 201, response.text
    return str(response.json()["request_uri"])


async def visit(op: OP, url: str, auth_time: float) -> httpx.Response:
    return await op.h.http.get(url, headers={USER: "alice", "x-auth-time": str(auth_time)})


def sent_to_login(response: httpx.Response) -> tuple[dict[str, str], str]:
    """The login page's query and its ``next``, asserting the answer is a 303 to it."""
    location = response.headers["location"]
    assert response.status_code == 303 and location.startswith("/login?"), response.text
    query = {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}
    return query, query["next"]


def next_params(back: str) -> dict[str, list[str]]:
    assert back.startswith("/oauth/auth/?")
    return parse_qs(urlsplit(back).query)


@pytest.mark.rule("par.prompt-login")
async def test_a_pushed_prompt_login_is_honoured_after_a_fresh_login_and_only_once(
        op: OP, clock: FakeClock) -> None:
    request_uri = await push(op)
    start = f"/oauth/auth/?client_id={RP}&request_uri={request_uri}"
    query, back = sent_to_login(await visit(op, start, clock.now - 3600))
    assert query["prompt"] == "login"
    # the pushed parameters never travel through the browser: only the request_uri
    assert set(next_params(back)) == {"client_id", "request_uri", "login_asked"}
    assert next_params(back)["request_uri"] == [request_uri]
    # back without having logged in again: asked again, the mark is no pass
    sent_to_login(await visit(op, back, clock.now - 1))
    clock.advance(5)
    page = assert_page(await visit(op, back, clock.now), 200)
    decided = await op.h.decide(page, headers={"x-auth-time": str(clock.now)})
    base, where, params = answer(decided)
    assert (base, where, params["state"]) == (RP_REDIRECT, "query", "st")
    token = await op.redeem(params["code"])
    assert token.status_code == 200, token.text
    _, claims = await op.id_token(token.json()["id_token"])
    assert claims["nonce"] == "n-1" and claims["auth_time"] == int(clock.now)
    # the request_uri was one-time: the same round trip now finds nothing
    gone = await visit(op, back, clock.now)
    assert "unknown, expired or already used" in assert_page(gone, 400).text


@pytest.mark.rule("par.prompt-login")
async def test_a_login_mark_forged_altered_or_moved_to_another_request_counts_for_nothing(
        op: OP, clock: FakeClock) -> None:
    first, second = await push(op), await push(op)
    _, back = sent_to_login(await visit(
        op, f"/oauth/auth/?client_id={RP}&request_uri={first}", clock.now - 3600))
    mark = next_params(back)["login_asked"][0]
    asked, _, signature = mark.partition(".")
    clock.advance(5)
    for forged in (f"{second}&login_asked={mark}",                      # another request
                   f"{first}&login_asked={int(asked) - 100}.{signature}",  # earlier time
                   f"{first}&login_asked={asked}.{'A' * 20}",           # not our signature
                   f"{first}&login_asked={mark}&login_asked={mark}"):   # repeated
        url = f"/oauth/auth/?client_id={RP}&request_uri={forged}"
        sent_to_login(await visit(op, url, clock.now - 60))  # a login older than asked
    clock.advance(600)  # older than the consent lifetime: the mark has expired
    sent_to_login(await visit(op, back, clock.now))
