"""Our JWT access tokens from a real server: uvicorn (two workers) on a real redis-server.

The token is checked by a party that only knows the issuer's URL: this package's own
``JWTVerifier`` (discovery, then ``jwks/``) and Authlib's JOSE validation. A rotation
keeps the old key published, so a token signed before it validates until it expires,
and no longer once the old key is retired; our own middleware, which reads the store,
refuses a revoked grant's JWT on the next request at every worker.
"""

from __future__ import annotations

import warnings
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from oauth_middleware import JWTVerifier
from oauth_middleware.store import TokenStore
from oauth_middleware.toolbox.signing_keys import (
    list_signing_keys,
    retire_signing_key,
    rotate_signing_keys,
)
from tests.conftest import FakeClock
from tests.redis_process import RedisProcess, free_port
from tests.server.token_harness import METADATA_URL, SECRET_KEY, auth_of, confidential
from tests.servers import UvicornProcess

pytestmark = pytest.mark.real_redis_only

API = "https://api.example/items"
#: JWTVerifier's default leeway on exp, nbf and iat (seconds).
LEEWAY = 30


@pytest.fixture(scope="module")
def server(redis_server: RedisProcess) -> Iterator[UvicornProcess]:
    port = free_port()
    env = {"REDIS_URL": redis_server.url, "OM_ISSUER": f"http://127.0.0.1:{port}/oauth"}
    with UvicornProcess("tests.server.token_server_app:build", "--factory", "--workers", "2",
                        "--log-level", "warning", env=env, port=port) as running:
        with httpx.Client(base_url=running.url, timeout=20) as client:
            for _ in range(8):  # the socket is bound before both workers answer
                assert client.get(METADATA_URL).status_code == 200
        yield running


@pytest.fixture
async def store(redis_server: RedisProcess, clock: FakeClock) -> AsyncIterator[TokenStore]:
    """The server's Redis, not emptied between these tests: its workers keep the signing
    keys they read for a while (``refresh_every``), as they would in production."""
    shared = TokenStore.from_url(redis_server.url, clock=clock)
    yield shared
    await shared.aclose()


@pytest.fixture
async def http(server: UvicornProcess) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
        yield client


async def jwt_for(http: httpx.AsyncClient, store: TokenStore, client_id: str
                  ) -> dict[str, Any]:
    web = await confidential(store, client_id, access_token_format="jwt", resources=[API])
    response = await http.post("/oauth/token/", headers=auth_of(web),
                               data={"grant_type": "client_credentials", "resource": API})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def check(server: UvicornProcess, token: str, clock: FakeClock) -> str | None:
    """What a fresh JWTVerifier that only knows the issuer says: the subject, or None."""
    verifier = JWTVerifier(issuer=f"{server.url}/oauth", audience=API, clock=clock)
    try:
        record = await verifier.resolve(token)
    finally:
        await verifier.aclose()
    return None if record is None else record.subject


def authlib_claims(token: str, jwks: dict[str, Any], now: int) -> dict[str, Any]:
    with warnings.catch_warnings():
        # authlib.jose points to joserfc, its successor (it still validates the same way), and
        # ``authlib.deprecate`` forces its warnings to "always" show: silenced after that import
        import authlib.deprecate

        warnings.simplefilter("ignore", authlib.deprecate.AuthlibDeprecationWarning)
        from authlib.jose import JsonWebKey, jwt

        claims = jwt.decode(token, JsonWebKey.import_key_set(jwks))
        claims.validate(now=now)
    return dict(claims)


async def test_our_jwt_validates_with_jwt_verifier_and_authlib_from_the_served_jwks(
    server: UvicornProcess, http: httpx.AsyncClient, store: TokenStore, clock: FakeClock
) -> None:
    body = await jwt_for(http, store, "checked")
    token = body["access_token"]
    assert await check(server, token, clock) == "checked"
    metadata = (await http.get(METADATA_URL)).json()
    jwks = (await http.get(metadata["jwks_uri"].removeprefix(server.url))).json()
    claims = authlib_claims(token, jwks, int(clock.now))
    assert claims["iss"] == f"{server.url}/oauth" and claims["aud"] == API
    assert claims["client_id"] == "checked" and claims["scope"] == body["scope"]


@pytest.mark.rule("resource.jwt-revocation-exact")
async def test_a_revoked_jwt_is_refused_by_every_worker_on_the_next_request(
    http: httpx.AsyncClient, store: TokenStore
) -> None:
    web = await confidential(store, "revoked", access_token_format="jwt")
    token = (await http.post("/oauth/token/", headers=auth_of(web),
                             data={"grant_type": "client_credentials"})).json()["access_token"]
    bearer = {"Authorization": f"Bearer {token}"}
    assert {(await http.get("/me", headers=bearer)).status_code for _ in range(8)} == {200}
    revoked = await http.post("/oauth/revoke/", headers=auth_of(web), data={"token": token})
    assert revoked.status_code == 200
    answers = [await http.get("/me", headers=bearer) for _ in range(8)]
    assert {a.status_code for a in answers} == {401}
    assert all('error="invalid_token"' in a.headers["www-authenticate"] for a in answers)


@pytest.mark.rule("jwks.rotation")
async def test_a_token_signed_before_a_rotation_validates_until_it_expires_or_its_key_retires(
    server: UvicornProcess, http: httpx.AsyncClient, store: TokenStore, clock: FakeClock
) -> None:
    token = (await jwt_for(http, store, "rotated"))["access_token"]
    (old,) = [k.kid for k in await list_signing_keys(store)
              if k.alg == "RS256" and k.state == "current"]
    (made,) = await rotate_signing_keys(store, SECRET_KEY, ["RS256"])
    published = {k["kid"] for k in (await http.get("/oauth/jwks")).json()["keys"]}
    assert {old, made.kid} <= published
    assert await check(server, token, clock) == "rotated"
    clock.advance(3600 + LEEWAY + 1)  # past its lifetime (and the leeway): expired
    assert await check(server, token, clock) is None
    clock.advance(-3600 - LEEWAY - 1)
    assert await retire_signing_key(store, old) is True
    assert old not in {k["kid"] for k in (await http.get("/oauth/jwks")).json()["keys"]}
    assert await check(server, token, clock) is None
