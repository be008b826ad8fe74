"""RFC 9068 JWT access tokens for clients registered with access_token_format="jwt".

The JWT is checked with joserfc's own validation against what ``jwks/`` serves, and
presented to our middleware, which still looks it up in the store: revocation stays
exact. Both store backends.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
from typing import Any

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey

from oauth_middleware import keyring
from oauth_middleware.extraction import MAX_TOKEN_LENGTH
from oauth_middleware.keyring import (
    MAX_TOKEN_LIFETIME,
    PRIVATE_MEMBERS,
    FileKeys,
    LocalKeys,
    StoreKeys,
)
from oauth_middleware.security import digest, grant_id_of
from oauth_middleware.store import TokenStore
from oauth_middleware.toolbox import register_client
from tests.conftest import FakeClock
from tests.server.authorize_harness import SPA_REDIRECT, answer, open_harness
from tests.server.token_harness import (
    INTROSPECT_PATH,
    ISSUER,
    METADATA_URL,
    REVOKE_PATH,
    SECRET_KEY,
    TOKEN_PATH,
    assert_error,
    auth_of,
    build_app,
    code_form,
    confidential,
    http,
    new_code,
)
from tests.store_helpers import redis_of

RESOURCE = "https://api.example/mcp"


def parts(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The header and claims of a JWT, unverified (what the test then verifies)."""
    header, claims = (json.loads(base64.urlsafe_b64decode(p + "=" * (-len(p) % 4)))
                      for p in token.split(".")[:2])
    return header, claims


async def verified(client: httpx.AsyncClient, token: str, clock: FakeClock,
                   audience: str = "web") -> dict[str, Any]:
    """The claims, once joserfc checked the signature against jwks/ and the claims."""
    keys = KeySet.import_key_set((await client.get("/oauth/jwks")).json())
    decoded = jwt.decode(token, keys, algorithms=["RS256", "ES256"])
    registry = jwt.JWTClaimsRegistry(
        now=int(clock.now), iss={"essential": True, "value": ISSUER},
        aud={"essential": True, "value": audience}, exp={"essential": True},
        jti={"essential": True}, client_id={"essential": True})
    registry.validate(decoded.claims)
    assert decoded.header["typ"] == "at+jwt"
    return decoded.claims


async def me(client: httpx.AsyncClient, token: str) -> httpx.Response:
    return await client.get("/me", headers={"Authorization": f"Bearer {token}"})


@pytest.mark.rule("resource.jwt-revocation-exact")
async def test_every_grant_of_a_jwt_client_issues_an_rfc9068_token(
    store: TokenStore, clock: FakeClock
) -> None:
    app = build_app(store)
    web = await confidential(store, access_token_format="jwt")
    async with http(app) as client:
        own = await client.post(TOKEN_PATH, data={"grant_type": "client_credentials"},
                                headers=auth_of(web))
        code = await new_code(store, "web", scopes=("read",))
        user = await client.post(TOKEN_PATH, data=code_form(code), headers=auth_of(web))
        refreshed = await client.post(TOKEN_PATH, headers=auth_of(web), data={
            "grant_type": "refresh_token", "refresh_token": user.json()["refresh_token"]})
        for response, subject in ((own, "web"), (user, "alice"), (refreshed, "alice")):
            body = response.json()
            assert response.status_code == 200 and body["token_type"] == "Bearer"
            token = body["access_token"]
            header, _ = parts(token)
            claims = await verified(client, token, clock)
            assert header == {"typ": "at+jwt", "alg": "RS256",
                              "kid": (await StoreKeys(store, SECRET_KEY).signing_key("RS256")).kid}
            assert claims["sub"] == subject and claims["client_id"] == "web"
            assert claims["scope"] == body["scope"]
            assert claims["exp"] - claims["iat"] == body["expires_in"] == 3600
            assert claims["iat"] == int(clock.now)
            assert claims["jti"].split(".")[0] == grant_id_of(token)
            assert (await me(client, token)).json()["scopes"] == body["scope"].split()
            assert await redis_of(store).exists(store.keys.access(
                str(grant_id_of(token)), digest(token)))
        assert grant_id_of(refreshed.json()["refresh_token"]) is not None  # stays opaque
        assert refreshed.json()["refresh_token"].count(".") == 1


async def test_the_rfc8707_audience_becomes_aud(store: TokenStore, clock: FakeClock) -> None:
    app = build_app(store)
    web = await confidential(store, access_token_format="jwt", resources=[RESOURCE])
    async with http(app) as client:
        response = await client.post(TOKEN_PATH, headers=auth_of(web), data={
            "grant_type": "client_credentials", "resource": RESOURCE})
        claims = await verified(client, response.json()["access_token"], clock, RESOURCE)
    assert claims["aud"] == RESOURCE


@pytest.mark.rule("resource.jwt-revocation-exact")
async def test_a_revoked_jwt_is_refused_on_the_next_request_and_introspection_follows(
    store: TokenStore,
) -> None:
    app = build_app(store)
    web = await confidential(store, access_token_format="jwt")
    async with http(app) as client:
        code = await new_code(store, "web", scopes=("read",))
        body = (await client.post(TOKEN_PATH, data=code_form(code), headers=auth_of(web))).json()
        token = body["access_token"]
        assert (await me(client, token)).status_code == 200
        active = (await client.post(INTROSPECT_PATH, data={"token": token},
                                    headers=auth_of(web))).json()
        assert active["active"] is True and active["sub"] == "alice"
        assert active["client_id"] == "web" and active["scope"] == "read"
        assert active["exp"] == parts(token)[1]["exp"]
        revoked = await client.post(REVOKE_PATH, data={"token": token}, headers=auth_of(web))
        assert revoked.status_code == 200
        refused = await me(client, token)
        assert refused.status_code == 401
        assert 'error="invalid_token"' in refused.headers["www-authenticate"]
        inactive = await client.post(INTROSPECT_PATH, data={"token": token},
                                     headers=auth_of(web))
        assert inactive.json() == {"active": False}
        # the refresh token's revocation takes its grant's JWTs with it
        again = await client.post(TOKEN_PATH, headers=auth_of(web), data={
            "grant_type": "refresh_token", "refresh_token": body["refresh_token"]})
        fresh = again.json()["access_token"]
        assert (await me(client, fresh)).status_code == 200
        await client.post(REVOKE_PATH, data={"token": again.json()["refresh_token"]},
                          headers=auth_of(web))
        assert (await me(client, fresh)).status_code == 401
    assert await redis_of(store).exists(store.keys.access(str(grant_id_of(fresh)),
                                                          digest(fresh))) == 0


async def test_a_forged_or_altered_jwt_is_refused(store: TokenStore) -> None:
    app = build_app(store)
    web = await confidential(store, access_token_format="jwt")
    async with http(app) as client:
        token = (await client.post(TOKEN_PATH, data={"grant_type": "client_credentials"},
                                   headers=auth_of(web))).json()["access_token"]
        header, claims = parts(token)
        forger = RSAKey.generate_key(2048, parameters={"kid": header["kid"]})
        forged = jwt.encode(header, {**claims, "scope": "read write admin"}, forger)
        altered = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
        for fake in (forged, altered, token + "x"):
            response = await me(client, fake)
            assert response.status_code == 401, fake
            assert 'error="invalid_token"' in response.headers["www-authenticate"]
        oversize = token + "." + "a" * (MAX_TOKEN_LENGTH - len(token))
        response = await me(client, oversize)
        assert response.status_code == 400
        assert 'error="invalid_request"' in response.headers["www-authenticate"]
        assert (await me(client, token)).status_code == 200


@pytest.mark.rule("rest.signing-keys-sealed")
async def test_a_wrong_secret_key_is_a_503_without_key_material_in_the_logs(
    store: TokenStore, caplog: pytest.LogCaptureFixture
) -> None:
    web = await confidential(store, access_token_format="jwt")
    await confidential(store, "opaque-client")
    async with http(build_app(store)) as client:
        assert (await client.get("/oauth/jwks")).status_code == 200  # keys made with SECRET_KEY
    stored: dict[Any, Any] = await redis_of(store).hgetall(store.keys.signing_keys)
    sealed = [value.decode() for value in stored.values()]
    keys_before = await redis_of(store).hgetall(store.keys.signing_keys)
    async with http(build_app(store, secret_key=b"w" * 32)) as client:
        with caplog.at_level(logging.INFO):
            response = await client.post(TOKEN_PATH, data={"grant_type": "client_credentials"},
                                         headers=auth_of(web))
            jwks = await client.get("/oauth/jwks/")
    assert_error(response, 503, "temporarily_unavailable")
    assert response.headers["retry-after"] == "5"
    assert jwks.status_code == 503 and jwks.json()["error"] == "temporarily_unavailable"
    assert await redis_of(store).keys(store.keys.access_pattern) == []  # nothing issued
    assert await redis_of(store).hgetall(store.keys.signing_keys) == keys_before
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "does not decrypt: the secret_key differs" in logged
    for record in sealed:
        assert json.loads(record)["sealed"][10:40] not in logged


async def test_an_algorithm_the_key_ring_lacks_is_unauthorized_client(store: TokenStore) -> None:
    only_rsa = FileKeys([("RS256", RSAKey.generate_key(2048, auto_kid=True))])
    app = build_app(store, signing_keys=only_rsa)
    web = await confidential(store, access_token_format="jwt", access_token_alg="ES256")
    async with http(app) as client:
        response = await client.post(TOKEN_PATH, data={"grant_type": "client_credentials"},
                                     headers=auth_of(web))
    body = assert_error(response, 400, "unauthorized_client")
    assert body["error_description"] == "The server cannot sign with the client's algorithm."
    assert await redis_of(store).keys(store.keys.access_pattern) == []


async def test_an_es256_client_gets_es256_tokens_and_never_expiring_ones_are_capped(
    store: TokenStore, clock: FakeClock
) -> None:
    app = build_app(store)
    web = await confidential(store, access_token_format="jwt", access_token_alg="ES256",
                             token_lifetime=None)
    async with http(app) as client:
        body = (await client.post(TOKEN_PATH, data={"grant_type": "client_credentials"},
                                  headers=auth_of(web))).json()
        claims = await verified(client, body["access_token"], clock)
    assert parts(body["access_token"])[0]["alg"] == "ES256"
    assert claims["exp"] - claims["iat"] == body["expires_in"] == MAX_TOKEN_LIFETIME


@pytest.mark.rule("jwks.public-only")
async def test_jwks_is_served_with_and_without_slash_and_named_in_the_metadata(
    store: TokenStore,
) -> None:
    async with http(build_app(store)) as client:
        with_slash, without = await client.get("/oauth/jwks/"), await client.get("/oauth/jwks")
        posted = await client.post("/oauth/jwks/")
        metadata = (await client.get(METADATA_URL)).json()
    assert with_slash.json() == without.json() and len(with_slash.json()["keys"]) == 2
    for response in (with_slash, without):
        assert response.status_code == 200
        assert response.headers["cache-control"] == "public, max-age=300"
        assert response.headers["content-type"] == "application/jwk-set+json"
        for jwk in response.json()["keys"]:
            assert not PRIVATE_MEMBERS & set(jwk)
            assert {"kid", "alg", "use", "kty"} <= set(jwk)
    assert posted.status_code == 405
    assert metadata["jwks_uri"] == f"{ISSUER}/jwks/"


async def test_without_the_jwt_extra_there_is_no_jwks_and_jwt_clients_are_refused(
    store: TokenStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(keyring, "available", lambda: False)
    app = build_app(store)
    web = await confidential(store, access_token_format="jwt")
    async with http(app) as client:
        assert (await client.get("/oauth/jwks/")).status_code == 404
        assert "jwks_uri" not in (await client.get(METADATA_URL)).json()
        response = await client.post(TOKEN_PATH, data={"grant_type": "client_credentials"},
                                     headers=auth_of(web))
    assert_error(response, 400, "unauthorized_client")
    assert app.state.server.config.signing_keys is None


async def test_the_implicit_grant_of_a_jwt_client_answers_a_jwt(
    store: TokenStore, clock: FakeClock
) -> None:
    async with open_harness(store) as harness:
        await register_client(store, "Kiosk", "kiosk", SPA_REDIRECT, public=True,
                              grant_types=["implicit"], scopes_list=["polls:read"],
                              register_unknown_scopes=False, access_token_format="jwt")
        page = await harness.consent(client_id="kiosk", response_type="token")
        _, where, params = answer(await harness.decide(page))
        keys = KeySet.import_key_set((await harness.http.get("/oauth/jwks")).json())
    assert where == "fragment" and params["token_type"] == "Bearer"
    token = params["access_token"]
    decoded = jwt.decode(token, keys, algorithms=["RS256"])
    assert decoded.header["typ"] == "at+jwt"
    assert decoded.claims["sub"] == "alice" and decoded.claims["client_id"] == "kiosk"
    assert decoded.claims["aud"] == "kiosk" and decoded.claims["scope"] == "polls:read"
    assert decoded.claims["exp"] - decoded.claims["iat"] == int(params["expires_in"]) == 3600
    assert await store.resolve(token) is not None


@pytest.mark.rule("rest.signing-keys-sealed")
async def test_a_key_record_tampered_in_redis_is_a_503_never_a_500(store: TokenStore) -> None:
    web = await confidential(store, access_token_format="jwt", access_token_alg="ES256")
    cc = {"grant_type": "client_credentials"}
    async with http(build_app(store)) as client:
        assert (await client.get("/oauth/jwks")).status_code == 200
    redis = redis_of(store)
    current: dict[Any, Any] = await redis.hgetall(store.keys.signing_current)
    await redis.hset(store.keys.signing_current, "ES256", current[b"RS256"])
    async with http(build_app(store)) as client:  # each app a fresh worker: nothing cached
        swapped = await client.post(TOKEN_PATH, data=cc, headers=auth_of(web))
    kid = current[b"ES256"].decode()
    await redis.hset(store.keys.signing_current, "ES256", kid)
    raw = json.loads(await redis.hget(store.keys.signing_keys, kid) or b"")
    await redis.hset(store.keys.signing_keys, kid,
                     json.dumps({**raw, "sealed": raw["sealed"][:-8] + "AAAAAAAA"}))
    async with http(build_app(store)) as client:
        altered = await client.post(TOKEN_PATH, data=cc, headers=auth_of(web))
        jwks = await client.get("/oauth/jwks")
    for response in (swapped, altered, jwks):
        assert response.status_code == 503, response.text
        assert response.json()["error"] == "temporarily_unavailable"
        assert response.headers["retry-after"] == "5"
    assert await redis.keys(store.keys.access_pattern) == []


async def test_scopes_too_many_for_a_jwt_are_invalid_scope_and_nothing_is_issued(
    store: TokenStore,
) -> None:
    many = [f"reports:{'x' * 50}:{n}" for n in range(80)]
    web = await confidential(store, access_token_format="jwt", scopes=many)
    async with http(build_app(store)) as client:
        refused = await client.post(TOKEN_PATH, data={"grant_type": "client_credentials"},
                                    headers=auth_of(web))
        fewer = await client.post(TOKEN_PATH, headers=auth_of(web), data={
            "grant_type": "client_credentials", "scope": " ".join(many[:10])})
        body = assert_error(refused, 400, "invalid_scope")
        assert body["error_description"].startswith("The granted scopes do not fit in a JWT")
        assert fewer.status_code == 200
        token = fewer.json()["access_token"]
        assert len(token) <= MAX_TOKEN_LENGTH and (await me(client, token)).status_code == 200
    assert len(await redis_of(store).keys(store.keys.access_pattern)) == 1


async def test_a_debug_server_without_a_secret_key_keeps_its_keys_in_its_process(
    store: TokenStore, clock: FakeClock
) -> None:
    """Its secret_key is random per process: keys sealed with it would not open in the next
    run, nor in another worker, so none is written to the store."""
    app = build_app(store, secret_key=None, debug=True)
    other = build_app(store, secret_key=None, debug=True)
    assert isinstance(app.state.server.config.signing_keys, LocalKeys)
    web = await confidential(store, access_token_format="jwt")
    async with http(app) as client, http(other) as elsewhere:
        token = (await client.post(TOKEN_PATH, data={"grant_type": "client_credentials"},
                                   headers=auth_of(web))).json()["access_token"]
        assert (await verified(client, token, clock))["sub"] == "web"
        mine = {k["kid"] for k in (await client.get("/oauth/jwks")).json()["keys"]}
        theirs = {k["kid"] for k in (await elsewhere.get("/oauth/jwks")).json()["keys"]}
    assert len(mine) == len(theirs) == 2 and not mine & theirs
    assert await redis_of(store).exists(store.keys.signing_keys) == 0
    assert isinstance(build_app(store).state.server.config.signing_keys, StoreKeys)


@pytest.mark.rule("abuse.single-current-key")
async def test_fifty_first_token_requests_on_two_workers_share_one_signing_key(
    store: TokenStore,
) -> None:
    web = await confidential(store, access_token_format="jwt")
    cc = {"grant_type": "client_credentials"}
    async with http(build_app(store)) as one, http(build_app(store)) as two:
        answers = await asyncio.gather(*(
            (one if n % 2 else two).post(TOKEN_PATH, data=cc, headers=auth_of(web))
            for n in range(50)))
    assert {a.status_code for a in answers} == {200}
    assert len({parts(a.json()["access_token"])[0]["kid"] for a in answers}) == 1
    assert await redis_of(store).hlen(store.keys.signing_keys) == 1
