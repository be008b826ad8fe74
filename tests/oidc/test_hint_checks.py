"""The ``id_token_hint`` at ``auth/`` passes the same verifier as at ``end_session/``
(:mod:`oauth_middleware.server.id_token_hint`): the checks the logout endpoint made first now
hold at ``auth/`` too. Both store backends."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from joserfc import jwt
from joserfc.jwk import RSAKey

from oauth_middleware import TokenStore
from tests.conftest import FakeClock
from tests.oidc.harness import OP, RP, RP_REDIRECT, open_op
from tests.server.authorize_harness import ISSUER, answer


@pytest.fixture
async def op(store: TokenStore) -> AsyncIterator[OP]:
    async with open_op(store) as provider:
        yield provider


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


async def ours(op: OP, claims: dict[str, Any], **header: Any) -> str:
    key = await op.keys.signing_key("RS256")
    return jwt.encode({"alg": "RS256", "kid": key.kid, **header}, claims, key)


async def hmac_with_our_public_key(op: OP, claims: dict[str, Any]) -> str:
    key = await op.keys.signing_key("RS256")
    assert isinstance(key, RSAKey)
    head = _b64(json.dumps({"alg": "HS256", "kid": key.kid}).encode())
    body = _b64(json.dumps(claims).encode())
    mac = hmac.new(key.as_pem(private=False), f"{head}.{body}".encode(), hashlib.sha256)
    return f"{head}.{body}.{_b64(mac.digest())}"


Forge = Callable[[OP, dict[str, Any]], Any]


@pytest.mark.rule("oidc.id-token-hint.bound")
@pytest.mark.parametrize("forge", [
    pytest.param(lambda op, c: ours(op, c, typ="AT+JWT"), id="access-token-typ-any-case"),
    pytest.param(lambda op, c: ours(op, {**c, "azp": 5}), id="azp-not-a-string"),
    pytest.param(lambda op, c: ours(op, {**c, "sub": ""}), id="empty-sub"),
    pytest.param(lambda op, c: ours(op, {**c, "aud": [RP, 7]}), id="aud-not-strings"),
    pytest.param(hmac_with_our_public_key, id="hs256-keyed-with-the-public-key"),
])
async def test_a_hint_the_logout_verifier_refuses_is_refused_at_auth_too(
    op: OP, clock: FakeClock, forge: Forge
) -> None:
    claims = {"iss": ISSUER, "sub": "alice", "aud": RP, "iat": int(clock.now),
              "exp": int(clock.now) + 60}
    hint = await forge(op, claims)
    _, _, params = answer(await op.authorize(
        "alice", response_type="code", client_id=RP, redirect_uri=RP_REDIRECT,
        scope="openid", state="st", prompt="none", id_token_hint=hint))
    assert (params["error"], params["state"]) == ("invalid_request", "st")
    assert params["error_description"] == \
        "The id_token_hint is not an ID token this server issued."
    assert await op.h.code_keys() == []
