"""A client's ``require_pushed_authorization_requests`` (RFC 9126 §6) through the toolbox
and dynamic registration (RFC 7591)."""

from __future__ import annotations

import httpx
import pytest

from oauth_middleware.server import AuthorizationServer
from oauth_middleware.server.config import RegistrationPolicy
from oauth_middleware.store import TokenStore
from oauth_middleware.toolbox import ensure_client, register_client, update_client

CB = "https://a.example/cb"


@pytest.mark.rule("par.required")
async def test_register_ensure_and_update_set_the_flag(store: TokenStore) -> None:
    plain = await register_client(store, "Plain", "plain", CB)
    assert plain.client.require_pushed_authorization_requests is False
    strict = await register_client(store, "Strict", "strict", CB,
                                   require_pushed_authorization_requests=True)
    assert strict.client.require_pushed_authorization_requests is True
    stored = await store.get_client("strict")
    assert stored is not None and stored.require_pushed_authorization_requests is True
    edited = await update_client(store, "plain", require_pushed_authorization_requests=True)
    assert edited.client.require_pushed_authorization_requests is True
    kept = await update_client(store, "plain", title="Renamed")
    assert kept.client.require_pushed_authorization_requests is True
    ensured = await ensure_client(store, "svc", "Service", redirect_uris=CB,
                                  require_pushed_authorization_requests=True)
    assert ensured.client.require_pushed_authorization_requests is True
    again = await ensure_client(store, "svc", "Service", redirect_uris=CB)
    assert again.client.require_pushed_authorization_requests is False
    with pytest.raises(TypeError, match="require_pushed_authorization_requests"):
        await register_client(store, "Bad", "bad", CB,
                              require_pushed_authorization_requests="yes")  # type: ignore[arg-type]


@pytest.mark.rule("par.required")
async def test_dynamic_registration_takes_and_echoes_the_flag(store: TokenStore) -> None:
    server = AuthorizationServer(store=store, issuer="https://testserver/oauth",
                                 secret_key=b"k" * 32, registration=RegistrationPolicy())
    transport = httpx.ASGITransport(app=server)
    async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as http:
        body = {"redirect_uris": ["http://127.0.0.1/cb"], "token_endpoint_auth_method": "none",
                "require_pushed_authorization_requests": True}
        made = await http.post("/register/", json=body)
        assert made.status_code == 201, made.text
        assert made.json()["require_pushed_authorization_requests"] is True
        client = await store.get_client(made.json()["client_id"])
        assert client is not None and client.require_pushed_authorization_requests is True
        wrong = await http.post("/register/", json={**body,
                                                    "require_pushed_authorization_requests": 1})
        assert wrong.status_code == 400
        assert wrong.json()["error"] == "invalid_client_metadata"
