"""Secrets, PKCE challenges and CSRF tokens are compared in constant time (SECURITY.md
"At rest, in memory, in logs").

A whole code flow runs with ``hmac.compare_digest`` watched: the client secret
(as its hash), the PKCE challenge and the CSRF token's binding all go through it.
"""

from __future__ import annotations

import hmac

import httpx
import pytest

from oauth_middleware.security import pkce_s256
from oauth_middleware.store import TokenStore
from tests.reliability.stack import VERIFIER, Flows, build, seed


@pytest.mark.rule("rest.constant-time")
async def test_a_code_flow_compares_every_secret_with_compare_digest(
    store: TokenStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    compared: list[bytes] = []
    real = hmac.compare_digest

    def watched(a: bytes, b: bytes) -> bool:
        compared.extend((a, b))
        return real(a, b)

    clients = await seed(store)
    monkeypatch.setattr(hmac, "compare_digest", watched)
    transport = httpx.ASGITransport(app=build(store))
    async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as http:
        flows = Flows(http, clients)
        code = await flows.code()
        assert (await flows.redeem(code)).status_code == 200
    web_hash = clients.web.client.secret_hash
    assert web_hash is not None
    assert web_hash.encode() in compared  # the client secret, as its hash
    assert pkce_s256(VERIFIER).encode() in compared  # the PKCE challenge
    assert any(len(x) == 64 and x != web_hash.encode() for x in compared)  # the CSRF binding
