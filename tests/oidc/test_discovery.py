"""OpenID Provider metadata (Discovery 1.0 §3-4) and RFC 9207's ``iss``; OP-Discovery items."""

from __future__ import annotations

import pytest

from oauth_middleware import TokenStore
from oauth_middleware.keyring import StoreKeys
from oauth_middleware.server import AuthorizationServer
from oauth_middleware.server.oidc import OpenIDProvider
from tests.oidc.harness import RP, RP_REDIRECT, open_op
from tests.oidc_keys import ring
from tests.server.authorize_harness import ISSUER, SECRET_KEY, answer, open_harness


@pytest.mark.rule("oidc.discovery")
async def test_the_openid_configuration_describes_the_provider(store: TokenStore) -> None:
    """OP-Discovery-Config, OP-Discovery-Values: at {issuer}/.well-known/openid-configuration,
    the same document as RFC 8414's, every URL under the configured issuer."""
    async with open_op(store) as op:
        response = await op.h.http.get("/oauth/.well-known/openid-configuration")
        oauth = await op.h.http.get("/oauth/.well-known/oauth-authorization-server")
    assert response.status_code == 200 and response.headers["cache-control"] == "no-store"
    doc = response.json()
    assert doc == oauth.json()
    assert doc["issuer"] == ISSUER and doc["userinfo_endpoint"] == f"{ISSUER}/userinfo/"
    assert doc["id_token_signing_alg_values_supported"] == ["RS256", "ES256"]
    assert doc["response_types_supported"] == ["code", "token", "id_token", "id_token token"]
    assert doc["subject_types_supported"] == ["public"]
    assert {"openid", "profile", "email", "address", "phone"} <= set(doc["scopes_supported"])
    assert {"sub", "iss", "auth_time", "nonce", "email", "address"} <= set(doc["claims_supported"])
    assert (doc["claims_parameter_supported"], doc["request_parameter_supported"],
            doc["request_uri_parameter_supported"]) == (True, False, False)
    assert doc["authorization_response_iss_parameter_supported"] is True
    assert "end_session_endpoint" not in doc


@pytest.mark.rule("auth.iss-parameter")
async def test_a_plain_oauth_server_adds_iss_to_every_answer_and_serves_no_openid_document(
    store: TokenStore
) -> None:
    """RFC 9207 for OAuth requests too; no OpenID document, no userinfo/, no id_token."""
    async with open_harness(store) as h:
        meta = (await h.http.get("/oauth/.well-known/oauth-authorization-server")).json()
        missing = await h.http.get("/oauth/.well-known/openid-configuration")
        userinfo = await h.http.get("/oauth/userinfo/")
        page = await h.consent(response_type="token", client_id="spa", scope="polls:read",
                               state="x", nonce="ignored", prompt="none")
        _, where, params = answer(await h.decide(page))
    assert meta["authorization_response_iss_parameter_supported"] is True
    assert "userinfo_endpoint" not in meta and "id_token" not in meta["response_types_supported"]
    assert missing.status_code == 404 and userinfo.status_code == 404
    assert where == "fragment" and params["state"] == "x"
    assert "access_token" in params and "id_token" not in params


@pytest.mark.rule("auth.iss-parameter")
async def test_iss_is_on_error_redirects_in_the_query_and_the_fragment(store: TokenStore) -> None:
    async with open_op(store) as op:
        query = answer(await op.authorize(response_type="code", client_id=RP,
                                          redirect_uri=RP_REDIRECT, scope="nope", state="q"))
        fragment = answer(await op.authorize(response_type="id_token", client_id="spa",
                                             scope="openid", state="f"))
    assert (query[1], query[2]["error"]) == ("query", "invalid_scope")
    assert (fragment[1], fragment[2]["error"]) == ("fragment", "invalid_request")


class _ES256Only:
    """A key ring that cannot sign RS256, which OpenID Connect Core 1.0 §15.1 requires."""

    algorithms = ("ES256",)

    async def signing_key(self, alg: str) -> object:
        raise LookupError(alg)

    async def public_jwks(self) -> dict[str, object]:
        return {"keys": []}


def test_an_openid_provider_signs_with_the_store_keys_and_refuses_a_ring_without_rs256(
    store: TokenStore
) -> None:
    default = AuthorizationServer(store=store, issuer=ISSUER, secret_key=SECRET_KEY,
                                  openid=OpenIDProvider())
    assert isinstance(default.config.signing_keys, StoreKeys)
    with pytest.raises(ValueError, match="needs signing_keys that sign RS256"):
        AuthorizationServer(store=store, issuer=ISSUER, secret_key=SECRET_KEY,
                            openid=OpenIDProvider(), signing_keys=_ES256Only())  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="id_token_lifetime must be 1 to 86400"):
        OpenIDProvider(id_token_lifetime=0)
    with pytest.raises(TypeError, match="openid="):
        AuthorizationServer(store=store, issuer=ISSUER, secret_key=SECRET_KEY,
                            signing_keys=ring(), openid="yes")  # type: ignore[arg-type]
