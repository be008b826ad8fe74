"""JWTVerifier against two real issuers (tests/issuer.py under uvicorn on loopback ports).

Issuer A lives at ``/realms/a`` and answers only OIDC discovery (Keycloak's shape); issuer
B lives at the root and answers only RFC 8414 metadata. Both name their first key
``k1``: a kid collision, so only ``iss``, ``aud`` and the key itself keep them apart.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import secrets
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from joserfc import jws
from joserfc.jwk import RSAKey
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from oauth_middleware import AUTO, JWTVerifier, OAuthMiddleware
from tests.conftest import FakeClock
from tests.redis_process import free_port
from tests.servers import UvicornProcess

API = "https://api.example.com"


def _start(path: str, discovery: str) -> UvicornProcess:
    port = free_port()
    return UvicornProcess("tests.issuer:create_app", "--factory", port=port, env={
        "ISSUER_PORT": str(port), "ISSUER_PATH": path, "ISSUER_DISCOVERY": discovery,
        "ISSUER_KID": "k1", "ISSUER_MAX_AGE": "120"})


@pytest.fixture(scope="module")
def servers() -> Iterator[tuple[UvicornProcess, UvicornProcess]]:
    with _start("/realms/a", "oidc") as a, _start("", "rfc8414") as b:
        yield a, b


@pytest.fixture
def issuers(servers: tuple[UvicornProcess, UvicornProcess]
            ) -> tuple[UvicornProcess, UvicornProcess]:
    for server in servers:
        httpx.post(server.url + "/reset").raise_for_status()
    return servers


def issuer_of(server: UvicornProcess) -> str:
    return server.url + ("/realms/a" if server.env["ISSUER_PATH"] else "")


@pytest.fixture
async def verifier(issuers: tuple[UvicornProcess, UvicornProcess],
                   clock: FakeClock) -> AsyncIterator[JWTVerifier]:
    made = JWTVerifier(issuer=issuer_of(issuers[0]), audience=API, clock=clock)
    yield made
    await made.aclose()


def claims(clock: FakeClock, **extra: Any) -> dict[str, Any]:
    now = int(clock.now)
    return {"sub": "alice", "client_id": "web", "aud": API, "scope": "items:read profile",
            "iat": now, "exp": now + 600, "jti": secrets.token_hex(8)} | extra


async def mint(server: UvicornProcess, body: dict[str, Any], **spec: Any) -> str:
    async with httpx.AsyncClient(base_url=server.url) as http:
        response = await http.post("/mint", json={"claims": body, **spec})
    response.raise_for_status()
    token: str = response.json()["token"]
    return token


async def fetches(server: UvicornProcess) -> int:
    async with httpx.AsyncClient(base_url=server.url) as http:
        count: int = (await http.get("/stats")).json()["fetches"]
    return count


def _app(verifier: JWTVerifier) -> Starlette:
    async def items(request: Request) -> Response:
        return JSONResponse({"user": request.user.identity, "kind": type(request.user).__name__,
                             "client": request.scope["oauth"].client_id,
                             "scopes": request.auth.scopes})

    app = Starlette(routes=[Route("/items", items)])
    app.add_middleware(OAuthMiddleware, verifier=verifier, scopes={"/items": "items:read"})
    return app


async def get(verifier: JWTVerifier, token: str) -> httpx.Response:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=_app(verifier)),
                                 base_url="https://testserver") as client:
        return await client.get("/items", headers={"Authorization": f"Bearer {token}"})


def assert_refused(response: httpx.Response) -> None:
    assert response.status_code == 401, response.text
    assert response.json()["error"] == "invalid_token"
    assert response.headers["www-authenticate"].startswith('Bearer realm="api", '
                                                           'error="invalid_token"')


def b64(data: bytes | str) -> str:
    raw = data.encode() if isinstance(data, str) else data
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def forged(header: dict[str, Any], body: dict[str, Any], key: RSAKey | None = None) -> str:
    """A token signed by the attacker's own key (or unsigned when ``key`` is None)."""
    if key is None:
        return f"{b64(json.dumps(header))}.{b64(json.dumps(body))}."
    return jws.serialize_compact(header, json.dumps(body), key, algorithms=[header["alg"]])


async def test_a_token_of_the_issuer_sets_user_auth_and_oauth(
    issuers: tuple[UvicornProcess, UvicornProcess], verifier: JWTVerifier, clock: FakeClock
) -> None:
    """OIDC discovery under the issuer's path (RFC 8414 metadata is 404 there)."""
    a = issuers[0]
    response = await get(verifier, await mint(a, claims(clock)))
    assert response.status_code == 200, response.text
    assert response.json() == {"user": "alice", "kind": "TokenUser", "client": "web",
                               "scopes": ["items:read", "profile"]}
    mime = await get(verifier, await mint(a, claims(clock), header={"typ": "application/at+jwt"}))
    assert mime.status_code == 200
    assert verifier.keys.jwks_uri == issuer_of(a) + "/jwks" and await fetches(a) == 1


@pytest.mark.rule("auth.client-identity-not-a-user")
async def test_a_client_credentials_token_is_the_client_never_a_user(
    issuers: tuple[UvicornProcess, UvicornProcess], verifier: JWTVerifier, clock: FakeClock
) -> None:
    """RFC 9068 §5: ``sub`` equal to ``client_id`` (or none) is the client itself."""
    a = issuers[0]
    own = await get(verifier, await mint(a, claims(clock, sub="svc", client_id="svc")))
    no_sub = claims(clock, client_id="svc")
    del no_sub["sub"]
    bare = await get(verifier, await mint(a, no_sub))
    auth0 = await get(verifier, await mint(a, claims(clock, sub="svc@clients", client_id="svc",
                                                     gty="client-credentials")))
    entra = await get(verifier, await mint(a, claims(clock, sub="0b1d", client_id="svc",
                                                     idtyp="app")))
    for response in (own, bare, auth0, entra):
        assert response.status_code == 200
        assert response.json() == {"user": "", "kind": "ClientUser", "client": "svc",
                                   "scopes": ["items:read", "profile"]}
    nobody = claims(clock)
    del nobody["sub"], nobody["client_id"]
    assert_refused(await get(verifier, await mint(a, nobody)))


@pytest.mark.parametrize("scope_claims", [
    {"scp": ["items:read", "profile"]},  # Okta
    {"scp": "items:read profile"},  # Entra ID
])
async def test_scp_as_a_list_or_a_string_gives_the_scopes(
    issuers: tuple[UvicornProcess, UvicornProcess], verifier: JWTVerifier, clock: FakeClock,
    scope_claims: dict[str, Any],
) -> None:
    body = claims(clock) | scope_claims
    del body["scope"]
    response = await get(verifier, await mint(issuers[0], body))
    assert response.status_code == 200 and response.json()["scopes"] == ["items:read", "profile"]
    narrow = await get(verifier, await mint(issuers[0], claims(clock, scope="profile")))
    assert narrow.status_code == 403 and narrow.json()["error"] == "insufficient_scope"


async def test_rfc8414_discovery_and_a_token_minted_by_authlib(
    issuers: tuple[UvicornProcess, UvicornProcess], clock: FakeClock
) -> None:
    """Interoperability: Authlib's JWT tooling signs, we verify (issuer B at the root)."""
    b = issuers[1]
    verifier = JWTVerifier(issuer=b.url, audience=API, clock=clock)
    response = await get(verifier, await mint(b, claims(clock, iss=b.url), lib="authlib"))
    await verifier.aclose()
    assert response.status_code == 200, response.text
    assert response.json()["user"] == "alice"
    assert verifier.keys.jwks_uri == b.url + "/jwks"


async def test_discovery_at_the_well_known_name_appended_to_the_issuers_path(
    clock: FakeClock,
) -> None:
    """Our own server, mounted at /oauth, answers metadata under the mount."""
    with _start("/oauth", "appended") as c:
        issuer = c.url + "/oauth"
        verifier = JWTVerifier(issuer=issuer, audience=API, clock=clock)
        accepted = await verifier.resolve(await mint(c, claims(clock, iss=issuer)))
        await verifier.aclose()
    assert accepted is not None and accepted.subject == "alice"
    assert verifier.keys.jwks_uri == issuer + "/jwks"


@pytest.mark.rule("resource.jwt.claims")
async def test_another_issuers_token_is_refused_even_with_the_same_kid(
    issuers: tuple[UvicornProcess, UvicornProcess], verifier: JWTVerifier, clock: FakeClock
) -> None:
    a, b = issuers
    assert (await get(verifier, await mint(a, claims(clock)))).status_code == 200
    # B's own token (kid k1 too), then B claiming to be A: neither verifies with A's k1.
    assert_refused(await get(verifier, await mint(b, claims(clock, iss=b.url))))
    assert_refused(await get(verifier, await mint(b, claims(clock, iss=issuer_of(a)))))
    # A's key, but for another API or naming another issuer.
    assert_refused(await get(verifier, await mint(a, claims(clock, aud="https://other.example"))))
    assert_refused(await get(verifier, await mint(a, claims(clock, iss=b.url))))
    b_verifier = JWTVerifier(issuer=b.url, audience=API, clock=clock)
    assert await b_verifier.resolve(await mint(a, claims(clock))) is None
    await b_verifier.aclose()


@pytest.mark.rule("resource.jwt.claims")
async def test_an_audience_list_containing_ours_is_accepted(
    issuers: tuple[UvicornProcess, UvicornProcess], verifier: JWTVerifier, clock: FakeClock
) -> None:
    """RFC 9068 §4 / RFC 7519 §4.1.3: the resource server must find itself in ``aud``."""
    a = issuers[0]
    ours = await get(verifier, await mint(a, claims(clock, aud=["https://other.example", API])))
    assert ours.status_code == 200
    assert_refused(await get(verifier, await mint(a, claims(clock, aud=["https://x.example"]))))
    assert_refused(await get(verifier, await mint(a, claims(clock, aud=[]))))


@pytest.mark.parametrize(("change", "accepted"), [
    ({"exp": -10}, True),  # within the 30 s leeway
    ({"exp": -31}, False),
    ({"nbf": 29}, True),
    ({"nbf": 120}, False),
    ({"iat": 120}, False),
    ({"exp": None}, False),
])
@pytest.mark.rule("resource.jwt.claims")
async def test_exp_nbf_and_iat_are_checked_with_a_small_leeway(
    issuers: tuple[UvicornProcess, UvicornProcess], verifier: JWTVerifier, clock: FakeClock,
    change: dict[str, int | None], accepted: bool,
) -> None:
    now = int(clock.now)
    body = claims(clock)
    for name, offset in change.items():
        if offset is None:
            del body[name]
        else:
            body[name] = now + offset
    response = await get(verifier, await mint(issuers[0], body))
    if accepted:
        assert response.status_code == 200
    else:
        assert_refused(response)


@pytest.mark.parametrize("header", [
    {"typ": "JWT"}, {"typ": "id_token+jwt"}, {"typ": None}, {"crit": ["exp"], "exp": 1},
    {"cty": "JWT"},
])
@pytest.mark.rule("resource.jwt.typ-alg")
async def test_wrong_typ_crit_and_nested_jwts_are_refused(
    issuers: tuple[UvicornProcess, UvicornProcess], verifier: JWTVerifier, clock: FakeClock,
    header: dict[str, Any],
) -> None:
    """RFC 9068 §4: typ must be at+jwt; no extension is understood; no nested JWT."""
    assert_refused(await get(verifier, await mint(issuers[0], claims(clock), header=header)))


async def test_plain_jwt_accepts_typ_jwt_or_none_but_no_other_typ_nor_nesting(
    issuers: tuple[UvicornProcess, UvicornProcess], clock: FakeClock
) -> None:
    a = issuers[0]
    verifier = JWTVerifier(issuer=issuer_of(a), audience=API, plain_jwt=True, clock=clock)
    assert (await get(verifier, await mint(a, claims(clock), header={"typ": "JWT"}))
            ).status_code == 200
    assert (await get(verifier, await mint(a, claims(clock)))).status_code == 200
    assert (await get(verifier, await mint(a, claims(clock), header={"typ": None}))
            ).status_code == 200
    assert_refused(await get(verifier, await mint(a, claims(clock), header={"typ": "dpop+jwt"})))
    assert_refused(await get(verifier, await mint(a, claims(clock), header={"cty": "JWT"})))
    await verifier.aclose()


@pytest.mark.rule("resource.jwt.typ-alg")
async def test_duplicate_claims_are_refused(
    issuers: tuple[UvicornProcess, UvicornProcess], verifier: JWTVerifier, clock: FakeClock
) -> None:
    """RFC 7519 §4: a repeated name is read differently by different parsers."""
    a = issuers[0]
    body = json.dumps(claims(clock, iss=issuer_of(a)))
    twice = body[:-1] + ', "sub": "admin"}'
    assert_refused(await get(verifier, await mint(a, {}, payload=twice)))
    assert (await get(verifier, await mint(a, {}, payload=body))).status_code == 200


@pytest.mark.rule("resource.jwt.typ-alg")
async def test_alg_none_and_hmac_with_the_public_key_are_refused(
    issuers: tuple[UvicornProcess, UvicornProcess], verifier: JWTVerifier, clock: FakeClock
) -> None:
    """The classic alg confusion: HS256 keyed with the issuer's published RSA key."""
    a = issuers[0]
    assert (await get(verifier, await mint(a, claims(clock)))).status_code == 200
    public = verifier.keys._find("k1")
    assert public is not None
    pem = public.as_pem(private=False)
    body = claims(clock, sub="admin")
    head = b64(json.dumps({"alg": "HS256", "typ": "at+jwt", "kid": "k1"}))
    signing_input = f"{head}.{b64(json.dumps(body))}"
    mac = hmac.new(pem, signing_input.encode(), hashlib.sha256).digest()
    assert_refused(await get(verifier, f"{signing_input}.{b64(mac)}"))
    for alg in ("none", "None"):
        assert_refused(await get(verifier, forged({"alg": alg, "typ": "at+jwt", "kid": "k1"},
                                                  body)))
    for algorithms in (["HS256"], ["none"], ["RS256", "HS256"], []):
        with pytest.raises(ValueError, match="only asymmetric algorithms"):
            JWTVerifier(issuer=issuer_of(a), audience=API, algorithms=algorithms)


@pytest.mark.rule("resource.jwt.keys")
async def test_jku_x5u_and_jwk_headers_are_ignored(
    issuers: tuple[UvicornProcess, UvicornProcess], verifier: JWTVerifier, clock: FakeClock
) -> None:
    """Keys come from the issuer's JWKS only, never from the token that wants checking."""
    a = issuers[0]
    attacker = RSAKey.generate_key(2048, parameters={"kid": "k1"})
    jwk = attacker.as_dict(private=False)
    evil = "http://127.0.0.1:9/jwks"
    body = claims(clock, sub="admin")
    for extra in ({"jwk": jwk}, {"jku": evil}, {"x5u": evil}, {"jwk": jwk, "jku": evil}):
        header = {"alg": "RS256", "typ": "at+jwt", "kid": "k1"} | extra
        assert_refused(await get(verifier, forged(header, body, attacker)))
        no_kid = {k: v for k, v in header.items() if k != "kid"}
        assert_refused(await get(verifier, forged(no_kid, body, attacker)))
    assert await fetches(a) == 1  # the issuer's own set, fetched once


@pytest.mark.parametrize("token", [
    "a" * 100_000, "a.b", "a.b.c.d.e", "!!.??.**", "e30.e30.", b64("[]") + ".e30.c2ln",
    b64('{"alg": "RS256", "typ": "at+jwt", "kid": 7}') + ".e30.c2ln",
    b64("{" * 5000) + ".e30.c2ln", b64('{"alg":"RS256","typ":"at+jwt"}') + "." + b64("x") + ".c2ln",
])
async def test_malformed_or_huge_tokens_are_refused_without_a_500(
    issuers: tuple[UvicornProcess, UvicornProcess], verifier: JWTVerifier, token: str
) -> None:
    assert await verifier.resolve(token) is None
    response = await get(verifier, token)
    assert response.status_code in (400, 401)
    assert response.json()["error"] in ("invalid_request", "invalid_token")


@pytest.mark.rule("resource.jwt.keys")
async def test_a_flood_of_unknown_kids_fetches_the_jwks_at_most_once_per_interval(
    issuers: tuple[UvicornProcess, UvicornProcess], verifier: JWTVerifier, clock: FakeClock
) -> None:
    a = issuers[0]
    assert (await get(verifier, await mint(a, claims(clock)))).status_code == 200
    attacker = RSAKey.generate_key(2048)
    tokens = [forged({"alg": "RS256", "typ": "at+jwt", "kid": secrets.token_hex(8)},
                     claims(clock), attacker) for _ in range(100)]
    clock.advance(30)  # the interval since the first fetch has passed: one refetch allowed
    for start in range(0, len(tokens), 50):
        answers = await asyncio.gather(*(get(verifier, t) for t in tokens[start:start + 50]))
        for response in answers:
            assert_refused(response)
    assert await fetches(a) == 2
    clock.advance(29)
    assert await verifier.resolve(tokens[0]) is None and await fetches(a) == 2
    clock.advance(1)
    assert await verifier.resolve(tokens[1]) is None and await fetches(a) == 3


@pytest.mark.rule("resource.jwt.keys")
async def test_key_rotation_new_kid_is_fetched_and_a_retired_key_dies_with_the_cache(
    issuers: tuple[UvicornProcess, UvicornProcess], verifier: JWTVerifier, clock: FakeClock
) -> None:
    """The JWKS answers ``max-age=120``: keys are kept that long, not longer."""
    a = issuers[0]
    body = claims(clock, exp=int(clock.now) + 7200)
    old = await mint(a, body, kid="k1")
    assert (await get(verifier, old)).status_code == 200 and await fetches(a) == 1
    async with httpx.AsyncClient(base_url=a.url) as http:
        (await http.post("/rotate", json={"kid": "k2"})).raise_for_status()
        new = await mint(a, body, kid="k2")
        clock.advance(30)
        assert (await get(verifier, new)).status_code == 200 and await fetches(a) == 2
        (await http.post("/retire", json={"kid": "k1"})).raise_for_status()
    clock.advance(119)  # 119 s after the refetch: still cached
    assert (await get(verifier, old)).status_code == 200 and await fetches(a) == 2
    clock.advance(1)
    assert_refused(await get(verifier, old))
    assert (await get(verifier, new)).status_code == 200 and await fetches(a) == 3


@pytest.mark.rule("redis.resource-503")
async def test_an_unreachable_issuer_is_a_503_never_a_401(
    issuers: tuple[UvicornProcess, UvicornProcess], clock: FakeClock
) -> None:
    a = issuers[0]
    token = await mint(a, claims(clock))
    dead = JWTVerifier(issuer="http://127.0.0.1:9/realms/a", audience=API, clock=clock,
                       jwks_uri=f"http://127.0.0.1:{free_port()}/jwks")
    response = await get(dead, token)
    assert response.status_code == 503 and response.json()["error"] == "temporarily_unavailable"
    assert response.headers["retry-after"] == "5" and "www-authenticate" not in response.headers
    # Metadata naming another issuer is no key source either (RFC 8414 §3.3).
    liar = JWTVerifier(issuer=issuer_of(a) + "x", audience=API, clock=clock)
    assert (await get(liar, token)).status_code == 503
    await dead.aclose()
    await liar.aclose()


def test_bad_settings_name_the_fix() -> None:
    with pytest.raises(ValueError, match="https://"):
        JWTVerifier(issuer="http://issuer.example", audience=API)
    with pytest.raises(ValueError, match="audience="):
        JWTVerifier(issuer="https://issuer.example", audience=[])
    with pytest.raises(ValueError, match="leeway="):
        JWTVerifier(issuer="https://issuer.example", audience=API, leeway=3600)


async def test_a_verified_token_is_remembered_until_it_expires_or_the_keys_change(
    issuers: tuple[UvicornProcess, UvicornProcess], clock: FakeClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A repeated token costs a hash lookup, not a signature check; the verdict never
    outlives ``exp`` (plus the leeway) nor the key set it was checked against."""
    a = issuers[0]
    checks: list[str] = []
    original = jws.deserialize_compact

    def counted(value: str, *args: Any, **kwargs: Any) -> Any:
        checks.append(value)
        return original(value, *args, **kwargs)

    monkeypatch.setattr("oauth_middleware.verifiers.jwt.jws.deserialize_compact", counted)
    verifier = JWTVerifier(issuer=issuer_of(a), audience=API, clock=clock, verified_cache=1)
    first = await mint(a, claims(clock, exp=int(clock.now) + 200))
    second = await mint(a, claims(clock))
    for token in (first, first, first):
        assert (await get(verifier, token)).status_code == 200
    assert len(checks) == 1
    assert (await get(verifier, second)).status_code == 200  # pushes first out (bound 1)
    assert (await get(verifier, first)).status_code == 200 and len(checks) == 3
    clock.advance(120)  # the key set's max-age: fetched again, earlier verdicts dropped
    assert (await get(verifier, first)).status_code == 200
    assert len(checks) == 4 and await fetches(a) == 2
    clock.advance(110)  # exp + leeway
    assert_refused(await get(verifier, first))
    assert len(checks) == 5 and await fetches(a) == 2
    await verifier.aclose()


@pytest.mark.rule("resource.jwt.typ-alg")
async def test_a_key_published_for_one_algorithm_verifies_no_other(
    issuers: tuple[UvicornProcess, UvicornProcess], clock: FakeClock
) -> None:
    """The issuer publishes k1 with ``alg: RS256``: a PS256 signature by the same RSA key
    is refused even where PS256 is allowed (RFC 7517 §4.4; joserfc checks it)."""
    a = issuers[0]
    verifier = JWTVerifier(issuer=issuer_of(a), audience=API, clock=clock,
                           algorithms=("RS256", "PS256"))
    assert (await get(verifier, await mint(a, claims(clock)))).status_code == 200
    assert_refused(await get(verifier, await mint(a, claims(clock), header={"alg": "PS256"})))
    await verifier.aclose()


async def test_auto_scopes_work_as_with_the_token_store(
    issuers: tuple[UvicornProcess, UvicornProcess], verifier: JWTVerifier, clock: FakeClock
) -> None:
    """Same middleware path: AUTO derives ``tests:report`` (package, then function)."""
    async def report(request: Request) -> Response:
        return JSONResponse({"user": request.user.identity, "scopes": request.auth.scopes})

    app = Starlette(routes=[Route("/report", report)])
    app.add_middleware(OAuthMiddleware, verifier=verifier, scopes={"/report": AUTO})
    a = issuers[0]
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="https://testserver") as client:
        ok = await client.get("/report", headers={
            "Authorization": "Bearer " + await mint(a, claims(clock, scope="tests:report"))})
        narrow = await client.get("/report", headers={
            "Authorization": "Bearer " + await mint(a, claims(clock))})
    assert ok.status_code == 200 and ok.json() == {"user": "alice", "scopes": ["tests:report"]}
    assert narrow.status_code == 403 and narrow.json()["error"] == "insufficient_scope"
    assert 'scope="tests:report"' in narrow.headers["www-authenticate"]
