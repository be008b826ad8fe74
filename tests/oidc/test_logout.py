"""end_session/ at an OpenID Provider (RP-Initiated Logout 1.0 §2; Core 1.0 §8.1): the hint
is an ID token the provider issued, so its ``sub`` is the one that client's ID tokens carry —
under pairwise subjects, never the user id. Both store backends."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from joserfc import jwt
from starlette.requests import Request

from oauth_middleware import TokenStore
from oauth_middleware.server.oidc import OpenIDProvider
from oauth_middleware.toolbox import update_client
from tests.conftest import FakeClock
from tests.oidc.harness import OP, RP, RP_REDIRECT, open_op, userinfo
from tests.server.authorize_harness import ISSUER, answer, assert_page

BACK = "https://rp.example/bye"


class Ended:
    """The host's ``logout`` hook: whose sessions it ended."""

    def __init__(self) -> None:
        self.users: list[str] = []

    async def __call__(self, request: Request) -> None:
        self.users.append(request.headers.get("x-test-user", ""))


@pytest.fixture
def ended() -> Ended:
    return Ended()


@pytest.fixture
async def pairwise(store: TokenStore, ended: Ended) -> AsyncIterator[OP]:
    provider = OpenIDProvider(userinfo=userinfo, subject_type="pairwise")
    async with open_op(store, provider=provider, logout=ended) as op:
        await update_client(store, RP, post_logout_redirect_uris=[BACK])
        yield op


async def id_token_of(op: OP, user: str) -> str:
    body = (await op.code_flow(user)).json()
    return str(body["id_token"])


async def end_session(op: OP, user: str, **params: str) -> httpx.Response:
    return await op.h.http.get("/oauth/end_session/", params=params,
                               headers={"x-test-user": user})


@pytest.mark.rule("logout.hint-ends-session", "oidc.pairwise")
async def test_a_pairwise_hint_of_the_signed_in_user_logs_out_at_once(
    pairwise: OP, ended: Ended
) -> None:
    hint = await id_token_of(pairwise, "alice")
    _, claims = await pairwise.id_token(hint)
    assert claims["sub"] != "alice"  # pairwise: the user id is not what the client sees
    response = await end_session(pairwise, "alice", id_token_hint=hint,
                                 post_logout_redirect_uri=BACK, state="st")
    base, _, params = answer(response, issuer=None)
    assert (base, params, ended.users) == (BACK, {"state": "st"}, ["alice"])


@pytest.mark.rule("logout.csrf", "oidc.pairwise")
async def test_a_pairwise_hint_of_another_user_asks_and_ends_nothing(
    pairwise: OP, ended: Ended
) -> None:
    bobs = await id_token_of(pairwise, "bob")
    response = await end_session(pairwise, "alice", id_token_hint=bobs,
                                 post_logout_redirect_uri=BACK)
    assert "Sign out?" in assert_page(response, 200).text
    assert ended.users == []


@pytest.mark.rule("logout.csrf", "oidc.pairwise")
async def test_under_pairwise_subjects_a_hint_whose_sub_is_the_raw_user_id_asks(
    pairwise: OP, ended: Ended, clock: FakeClock
) -> None:
    """A token of ours whose ``sub`` is the user id: no ID token of this provider carries
    that under pairwise subjects, so it must not end alice's session by itself."""
    key = await pairwise.keys.signing_key("RS256")
    raw = jwt.encode({"alg": "RS256", "kid": key.kid},
                     {"iss": ISSUER, "sub": "alice", "aud": RP, "iat": int(clock.now),
                      "exp": int(clock.now) + 60}, key)
    response = await end_session(pairwise, "alice", id_token_hint=raw,
                                 post_logout_redirect_uri=BACK)
    assert "Sign out?" in assert_page(response, 200).text
    assert ended.users == []


@pytest.mark.rule("logout.hint-ends-session")
async def test_a_public_sub_hint_logs_out_when_authenticate_answers_an_authentication(
    store: TokenStore, ended: Ended
) -> None:
    """The provider's ``authenticate`` answers ``Authentication`` objects: the hint is
    compared with its ``user_id``, not with the object's text."""
    async with open_op(store, logout=ended) as op:
        await update_client(store, RP, post_logout_redirect_uris=[BACK])
        hint = await id_token_of(op, "alice")
        base, _, _ = answer(await end_session(op, "alice", id_token_hint=hint,
                                              post_logout_redirect_uri=BACK), issuer=None)
    assert (base, ended.users) == (BACK, ["alice"])


async def test_a_hint_from_an_unreadable_store_is_a_503_not_a_refused_hint(
    store: TokenStore, ended: Ended
) -> None:
    """The published keys are read from the store: when it fails, the answer is 503,
    never the hint's refusal (which would blame the relying party)."""
    async with open_op(store, logout=ended) as op:
        hint = await id_token_of(op, "alice")

        async def down() -> dict[str, object]:
            from oauth_middleware.store import StoreUnavailable
            raise StoreUnavailable()

        op.keys.public_jwks = down  # type: ignore[method-assign]
        try:
            logout = await end_session(op, "alice", id_token_hint=hint)
            auth = await op.authorize("alice", response_type="code", client_id=RP,
                                      redirect_uri=RP_REDIRECT, scope="openid",
                                      id_token_hint=hint)
        finally:
            del op.keys.public_jwks
    for response in (logout, auth):
        assert_page(response, 503)
        assert "location" not in response.headers
    assert ended.users == []
