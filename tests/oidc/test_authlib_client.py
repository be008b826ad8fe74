"""Interoperability: Authlib's OAuth 2.0 client and its OpenID Connect ID-token rules, a
relying party nobody here wrote, signing in against the provider under real uvicorn (two
workers, real Redis): discovery, code + PKCE + nonce, the ID token validated against the
JWKS (signature, iss, aud, exp, iat, nonce, at_hash), and UserInfo."""

from __future__ import annotations

import json
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from authlib.common.security import generate_token
from authlib.integrations.httpx_client import AsyncOAuth2Client
from authlib.oidc.core import CodeIDToken
from joserfc import jwt
from joserfc.jwk import KeySet

from oauth_middleware import TokenStore
from tests.oidc.harness import RP, RP_REDIRECT, RP_SECRET, seed
from tests.oidc_keys import ring
from tests.redis_process import RedisProcess, free_port
from tests.server.authorize_harness import read_page
from tests.servers import UvicornProcess


@pytest.fixture
def provider(redis_server: RedisProcess) -> Iterator[UvicornProcess]:
    port = free_port()
    keys = json.dumps([dict(k.as_dict(private=True)) for k in ring().keys.values()])
    env = {"REDIS_URL": redis_server.url, "OM_ISSUER": f"http://127.0.0.1:{port}/oauth",
           "OM_TEST_KEYS": keys}
    with UvicornProcess("tests.oidc.uvicorn_app:build", "--factory", "--workers", "2",
                        "--log-level", "warning", env=env, port=port) as running:
        yield running


async def sign_in_as_a_browser(browser: httpx.AsyncClient, url: str, user: str) -> str:
    """Follow the authorization URL as a person would: log in, approve; the redirect."""
    to_login = await browser.get(url)
    assert to_login.status_code == 303, to_login.text
    back = parse_qs(urlsplit(to_login.headers["location"]).query)["next"][0]
    logged_in = await browser.post("/login", data={"username": user, "next": back})
    assert logged_in.status_code == 303
    page = read_page((await browser.get(logged_in.headers["location"])).text)
    fields: dict[str, str | list[str]] = {
        i["name"]: i["value"] for i in page.inputs if i.get("type") == "hidden"}
    fields.update({"scope": [c["value"] for c in page.checkboxes()], "decision": "approve"})
    approved = await browser.post(page.forms[0]["action"], data=fields, headers={
        "origin": str(browser.base_url).rstrip("/"), "sec-fetch-site": "same-origin"})
    assert approved.status_code == 303, approved.text
    return approved.headers["location"]


@pytest.mark.real_redis_only
@pytest.mark.rule("oidc.id-token.claims", "oidc.nonce.echoed", "oidc.discovery")
async def test_authlibs_client_signs_in_validates_the_id_token_and_reads_userinfo(
    store: TokenStore, provider: UvicornProcess
) -> None:
    await seed(store)
    issuer = f"{provider.url}/oauth"
    async with httpx.AsyncClient(base_url=provider.url) as browser, AsyncOAuth2Client(
        client_id=RP, client_secret=RP_SECRET, redirect_uri=RP_REDIRECT,
        scope="openid profile email", code_challenge_method="S256",
    ) as rp:
        meta = (await rp.request("GET", f"{issuer}/.well-known/openid-configuration",
                                 withhold_token=True)).json()
        assert meta["issuer"] == issuer
        nonce, verifier = generate_token(20), generate_token(48)
        url, state = rp.create_authorization_url(meta["authorization_endpoint"], nonce=nonce,
                                                 code_verifier=verifier)
        location = await sign_in_as_a_browser(browser, url, "alice")
        assert parse_qs(urlsplit(location).query)["iss"] == [issuer]
        token = await rp.fetch_token(meta["token_endpoint"], authorization_response=location,
                                     state=state, code_verifier=verifier)
        jwks = KeySet.import_key_set(
            (await rp.request("GET", f"{provider.url}/jwks", withhold_token=True)).json())
        decoded = jwt.decode(token["id_token"], jwks,
                             algorithms=meta["id_token_signing_alg_values_supported"])
        claims = CodeIDToken(decoded.claims, decoded.header,
                             {"iss": {"essential": True, "value": issuer}},
                             {"nonce": nonce, "client_id": RP,
                              "access_token": token["access_token"]})
        claims.validate()  # Authlib's own checks: iss, aud, exp, iat, nonce, at_hash
        info = (await rp.get(meta["userinfo_endpoint"])).json()
    assert claims["sub"] == info["sub"] == "alice"
    assert info == {"sub": "alice", "name": "Alice Liddell", "given_name": "Alice",
                    "family_name": "Liddell", "email": "alice@example.com",
                    "email_verified": True}
