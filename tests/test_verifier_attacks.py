"""Attacks on JWTVerifier, IntrospectionVerifier and the remote calls they make.

The issuer and the introspection server here are in-process httpx transports: what is
attacked is how the verifiers read what comes back (headers, claims, timing), not the
network (tests/test_jwt_verifier.py and tests/test_introspection_verifier.py run real
servers). Each test names the request an outsider, or a broken issuer, could send.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import anyio
import httpx
import pytest
from joserfc import jws
from joserfc.jwk import RSAKey
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from oauth_middleware import IntrospectionVerifier, JWTVerifier, OAuthMiddleware
from oauth_middleware.store import StoreUnavailable
from oauth_middleware.verifier import TokenVerifier
from oauth_middleware.verifiers import remote
from tests.conftest import FakeClock

ISSUER = "https://issuer.example"
API = "https://api.example/mcp"
OTHER_API = "https://other.example/mcp"
KEY = RSAKey.generate_key(2048, parameters={"kid": "k1"})


class Issuer:
    """An issuer's metadata and JWKS; ``age`` and ``control`` are the JWKS answer's
    ``Age`` and ``Cache-Control``, ``keys`` its keys, ``jwks_uri`` what discovery names."""

    def __init__(self, age: str = "0", control: str = "max-age=600",
                 keys: list[dict[str, Any]] | None = None,
                 jwks_uri: str = ISSUER + "/jwks", expires: str | None = None) -> None:
        self.age, self.control, self.jwks_uri = age, control, jwks_uri
        self.expires = {} if expires is None else {"Expires": expires}
        self.keys = [KEY.as_dict(private=False)] if keys is None else keys
        self.fetches = 0
        self.asked: list[str] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.asked.append(str(request.url))
        if "/.well-known/" in request.url.path:
            return httpx.Response(200, json={"issuer": ISSUER, "jwks_uri": self.jwks_uri})
        self.fetches += 1
        return httpx.Response(200, json={"keys": self.keys},
                              headers={"Cache-Control": self.control, "Age": self.age}
                              | self.expires)


def jwt_verifier(clock: FakeClock, issuer: Issuer | None = None,
                 audience: str | list[str] = API) -> JWTVerifier:
    transport = httpx.MockTransport(issuer or Issuer())
    return JWTVerifier(issuer=ISSUER, audience=audience, clock=clock,
                       http_client=httpx.AsyncClient(transport=transport))


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def mint(clock: FakeClock, payload: str | None = None, **extra: Any) -> str:
    """A token the issuer really signed; ``payload`` is the claims set as raw JSON text."""
    now = int(clock.now)
    claims = {"iss": ISSUER, "aud": API, "sub": "alice", "client_id": "web",
              "scope": "items:read", "iat": now, "exp": now + 600} | extra
    return jws.serialize_compact({"alg": "RS256", "kid": "k1", "typ": "at+jwt"},
                                 payload if payload is not None else json.dumps(claims), KEY)


def app(verifier: TokenVerifier, **options: Any) -> Starlette:
    async def items(request: Request) -> Response:
        return JSONResponse({"user": request.user.identity,
                             "scopes": sorted(request.auth.scopes)})

    made = Starlette(routes=[Route("/items", items), Route("/admin", items)])
    made.add_middleware(OAuthMiddleware, verifier=verifier,
                        scopes={"/items": "items:read", "/admin": "admin"}, **options)
    return made


async def get(verifier: TokenVerifier, token: str, path: str = "/items",
              **options: Any) -> httpx.Response:
    transport = httpx.ASGITransport(app=app(verifier, **options))
    async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as client:
        return await client.get(path, headers={"Authorization": f"Bearer {token}"})


def assert_invalid_token(response: httpx.Response) -> None:
    assert response.status_code == 401, response.text
    assert response.json()["error"] == "invalid_token"
    assert 'error="invalid_token"' in response.headers["www-authenticate"]


@pytest.mark.rule("resource.jwt.typ-alg")
@pytest.mark.parametrize("alg", [["RS256"], {"RS256": 1}, None, 256])
async def test_a_jwt_whose_alg_is_no_string_is_invalid_token_never_a_500(
        clock: FakeClock, alg: object) -> None:
    header = b64(json.dumps({"alg": alg, "kid": "k1", "typ": "at+jwt"}).encode())
    body = b64(json.dumps({"iss": ISSUER, "aud": API, "exp": clock.now + 60}).encode())
    verifier = jwt_verifier(clock)
    assert_invalid_token(await get(verifier, f"{header}.{body}.AAAA"))
    assert verifier.keys.fetches == 0  # refused on its header: the issuer was never asked


@pytest.mark.rule("resource.jwt.keys")
@pytest.mark.parametrize("age", ["abc", "1e3", "-5", "99999999999999999999"])
async def test_a_garbled_age_header_on_the_jwks_counts_as_spent_never_a_500(
        clock: FakeClock, age: str) -> None:
    issuer = Issuer(age=age)
    verifier = jwt_verifier(clock, issuer)
    response = await get(verifier, mint(clock))
    assert response.status_code == 200, response.text
    assert response.json() == {"user": "alice", "scopes": ["items:read"]}
    clock.advance(61)  # past min_ttl (60 s), long before max-age=600: the keys were kept
    response = await get(verifier, mint(clock))  # only min_ttl, so they are fetched again
    assert response.status_code == 200 and issuer.fetches == 2


@pytest.mark.rule("resource.jwt.keys")
@pytest.mark.parametrize("control", ["max-age=-1", "max-age=1e3", "max-age=abc"])
async def test_an_invalid_max_age_on_the_jwks_means_stale_not_the_default(
        clock: FakeClock, control: str) -> None:
    """RFC 9111 §4.2.1: an invalid max-age is stale; the keys are kept only ``min_ttl``
    (60 s), not the 300 s ``default_ttl`` meant for an answer without cache headers."""
    issuer = Issuer(control=control)
    verifier = jwt_verifier(clock, issuer)
    assert (await get(verifier, mint(clock))).status_code == 200
    clock.advance(61)
    assert (await get(verifier, mint(clock))).status_code == 200
    assert issuer.fetches == 2


@pytest.mark.rule("resource.jwt.keys")
@pytest.mark.parametrize("expires", ["Mon, 01 Jan 99999999999999999999 00:00:00 GMT",
                                     "Mon, 99 Jan 2026 00:00:00 GMT", "0"])
async def test_an_invalid_expires_on_the_jwks_means_stale_never_a_500(
        clock: FakeClock, expires: str) -> None:
    issuer = Issuer(control="public", expires=expires)
    verifier = jwt_verifier(clock, issuer)
    response = await get(verifier, mint(clock))
    assert response.status_code == 200, response.text
    clock.advance(61)
    assert (await get(verifier, mint(clock))).status_code == 200
    assert issuer.fetches == 2


@pytest.mark.rule("resource.jwt.keys")
async def test_an_https_issuers_metadata_cannot_send_the_verifier_to_http_localhost(
        clock: FakeClock) -> None:
    """The discovered jwks_uri names a local service in the clear: never fetched, 503."""
    issuer = Issuer(jwks_uri="http://127.0.0.1:6379/jwks")
    response = await get(jwt_verifier(clock, issuer), mint(clock))
    assert response.status_code == 503, response.text
    assert response.json()["error"] == "temporarily_unavailable"
    assert "retry-after" in response.headers
    assert issuer.fetches == 0
    assert not any(url.startswith("http://127.0.0.1") for url in issuer.asked)


@pytest.mark.rule("resource.jwt.keys")
async def test_an_empty_kid_finds_the_kidless_key_only_when_it_is_the_only_key(
        clock: FakeClock) -> None:
    kidless = RSAKey.generate_key(2048)
    other = RSAKey.generate_key(2048, parameters={"kid": "k2"})
    keys = [kidless.as_dict(private=False), other.as_dict(private=False)]
    assert "kid" not in keys[0]
    claims = {"iss": ISSUER, "aud": API, "sub": "alice", "scope": "items:read",
              "exp": int(clock.now) + 600}
    token = jws.serialize_compact({"alg": "RS256", "kid": "", "typ": "at+jwt"},
                                  json.dumps(claims), kidless)
    assert_invalid_token(await get(jwt_verifier(clock, Issuer(keys=keys)), token))
    alone = await get(jwt_verifier(clock, Issuer(keys=keys[:1])), token)
    assert alone.status_code == 200, alone.text


@pytest.mark.rule("resource.jwt.claims")
async def test_a_signed_exp_too_large_for_a_float_is_invalid_token_never_a_500(
        clock: FakeClock) -> None:
    payload = json.dumps({"iss": ISSUER, "aud": API, "sub": "alice", "scope": "items:read"})
    payload = payload[:-1] + ', "exp": 1' + "0" * 400 + "}"
    assert_invalid_token(await get(jwt_verifier(clock), mint(clock, payload)))


async def test_a_jwt_whose_client_id_and_azp_name_different_clients_is_refused(
        clock: FakeClock) -> None:
    verifier = jwt_verifier(clock)
    assert_invalid_token(await get(verifier, mint(clock, azp="admin-console")))
    assert_invalid_token(await get(verifier, mint(clock, sub="web", azp="admin-console")))
    same = await get(verifier, mint(clock, azp="web"))
    assert same.status_code == 200 and same.json()["user"] == "alice"
    only_azp = await verifier.resolve(mint(clock, client_id=None, azp="web"))
    assert only_azp is None  # client_id null: no string, refused
    record = await verifier.resolve(mint(clock, sub="web", azp="web"))
    assert record is not None and record.subject_type == "client"


@pytest.mark.parametrize("separator", ["\u00a0", "\u2028", "\t", "\x1f", "\x85"])
async def test_jwt_scopes_are_split_on_spaces_only(clock: FakeClock, separator: str) -> None:
    """RFC 6749 §3.3: scope tokens are separated by %x20; ``items:read<NBSP>admin`` is one
    (odd) scope at the issuer and must not become ``admin`` here."""
    verifier = jwt_verifier(clock)
    token = mint(clock, scope=f"items:read{separator}admin")
    response = await get(verifier, token, "/admin")
    assert response.status_code == 403, response.text
    assert response.json()["error"] == "insufficient_scope"
    record = await verifier.resolve(token)
    assert record is not None and record.scopes == {f"items:read{separator}admin"}
    spaced = await verifier.resolve(mint(clock, scope="  items:read   admin "))
    assert spaced is not None and spaced.scopes == {"items:read", "admin"}


@pytest.mark.rule("resource.audience")
async def test_the_middleware_refuses_a_jwt_its_verifier_accepts_for_another_resource(
        clock: FakeClock) -> None:
    """One verifier trusted for two APIs (its ``audience`` lists both) in front of one
    of them: a token for the other must not be replayed here (RFC 8707)."""
    verifier = jwt_verifier(clock, audience=[API, OTHER_API])
    elsewhere = mint(clock, aud=OTHER_API)
    assert_invalid_token(await get(verifier, elsewhere, resource=API))
    here = await get(verifier, mint(clock, aud=[OTHER_API, API]), resource=API,
                     require_audience=True)
    assert here.status_code == 200, here.text
    record = await verifier.resolve(elsewhere)
    assert record is not None and record.audience == {OTHER_API}


def introspection(answer: Callable[[], dict[str, Any]], clock: FakeClock,
                  **options: Any) -> IntrospectionVerifier:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=answer())

    return IntrospectionVerifier(
        "https://as.example/introspect", "rs", "rs-secret", clock=clock,
        http_client=httpx.AsyncClient(transport=httpx.MockTransport(handler)), **options)


def active(clock: FakeClock, **extra: Any) -> dict[str, Any]:
    return {"active": True, "client_id": "web", "sub": "alice", "scope": "items:read",
            "exp": int(clock.now) + 600} | extra


@pytest.mark.rule("resource.audience")
async def test_the_middleware_refuses_an_introspected_token_meant_for_another_resource(
        clock: FakeClock) -> None:
    verifier = introspection(lambda: active(clock, aud=OTHER_API), clock)
    assert_invalid_token(await get(verifier, "opaque-1", resource=API))
    record = await verifier.resolve("opaque-1")
    assert record is not None and record.audience == {OTHER_API}
    ours = introspection(lambda: active(clock, aud=[API, OTHER_API]), clock)
    response = await get(ours, "opaque-2", resource=API, require_audience=True)
    assert response.status_code == 200, response.text
    assert response.json() == {"user": "alice", "scopes": ["items:read"]}


@pytest.mark.parametrize("name", ["exp", "iat", "nbf"])
async def test_an_introspection_time_too_large_for_a_float_is_inactive_never_a_500(
        clock: FakeClock, name: str) -> None:
    verifier = introspection(lambda: active(clock) | {name: 10 ** 400}, clock)
    assert_invalid_token(await get(verifier, "opaque"))
    assert len(verifier._cache) == 0


@pytest.mark.parametrize("constant", ["Infinity", "NaN", "-Infinity"])
async def test_an_introspection_answer_with_a_non_json_constant_is_a_503(
        clock: FakeClock, constant: str) -> None:
    """``"exp": Infinity`` is no JSON (RFC 8259 §6), though Python reads it: the token
    would never expire. Fail closed as for any answer that is no RFC 7662 object."""
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=b'{"active": true, "client_id": "web", '
                              b'"sub": "alice", "scope": "items:read", "exp": '
                              + constant.encode() + b"}")

    verifier = IntrospectionVerifier(
        "https://as.example/introspect", "rs", "rs-secret", clock=clock,
        http_client=httpx.AsyncClient(transport=httpx.MockTransport(handler)))
    response = await get(verifier, "opaque")
    assert response.status_code == 503, response.text
    assert response.json()["error"] == "temporarily_unavailable"
    assert len(verifier._cache) == 0


async def test_introspected_scopes_are_split_on_spaces_only(clock: FakeClock) -> None:
    verifier = introspection(lambda: active(clock, scope="items:read\u00a0admin"), clock)
    response = await get(verifier, "opaque", "/admin")
    assert response.status_code == 403, response.text
    assert response.json()["error"] == "insufficient_scope"


def with_service_token(expires_in: object, clock: FakeClock) -> IntrospectionVerifier:
    """An introspection verifier whose service token's answer has this ``expires_in``."""
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/token":
            return httpx.Response(200, json={"access_token": "svc", "token_type": "Bearer",
                                             "expires_in": expires_in})
        if request.headers["authorization"] != "Bearer svc":
            return httpx.Response(401, json={"error": "invalid_token"})
        return httpx.Response(200, json=active(clock))

    return IntrospectionVerifier(
        "https://as.example/introspect", "rs", "rs-secret", clock=clock,
        token_url="https://as.example/token", scope="introspect",
        http_client=httpx.AsyncClient(transport=httpx.MockTransport(handler)))


async def test_a_service_token_whose_expires_in_is_a_float_is_used() -> None:
    clock = FakeClock()
    response = await get(with_service_token(3600.0, clock), "opaque")
    assert response.status_code == 200, response.text
    assert response.json() == {"user": "alice", "scopes": ["items:read"]}


@pytest.mark.parametrize("expires_in", [10 ** 400, True, "3600", None],
                         ids=["integer-no-float-holds", "true", "string", "null"])
async def test_a_service_token_with_an_unusable_expires_in_is_a_503_never_a_500(
        expires_in: object) -> None:
    response = await get(with_service_token(expires_in, FakeClock()), "opaque")
    assert response.status_code == 503, response.text
    assert response.json()["error"] == "temporarily_unavailable"
    assert "retry-after" in response.headers


@pytest.mark.rule("resource.remote-bounded")
async def test_a_server_dripping_its_answer_is_a_503_within_the_call_deadline() -> None:
    """httpx bounds each read; a server sending a chunk before every read times out would
    hold the call (and the key cache's lock) for as long as it likes."""
    started = anyio.Event()

    async def drip() -> AsyncIterator[bytes]:
        yield b'{"keys": ['
        started.set()
        await anyio.sleep_forever()  # the next chunk never comes; no read timeout fires
        yield b"]}"

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=drip())

    http = httpx.AsyncClient(transport=httpx.MockTransport(handler), timeout=0.05)
    request = http.build_request("GET", "https://issuer.example/jwks")
    with anyio.fail_after(30):  # the test's own bound; the call's is 4 x 0.05 s
        with pytest.raises(StoreUnavailable):
            await remote.call(http, request, 1024)
    assert started.is_set()
    await http.aclose()


@pytest.mark.rule("resource.remote-bounded")
async def test_a_real_jwks_server_dripping_a_byte_per_read_is_a_503_not_a_wait(
        clock: FakeClock) -> None:
    """Over a loopback socket: each chunk comes well within the 0.2 s read timeout, so
    only the whole-call deadline (4 x 0.2 s) ends the call, long before the drip would."""
    async def drip(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
                     b"transfer-encoding: chunked\r\n\r\n")
        try:
            for _ in range(400):  # 400 x 0.05 s = 20 s if nothing stops it
                writer.write(b"1\r\n \r\n")
                await writer.drain()
                await asyncio.sleep(0.05)  # the attacker's pace, not the test's timing
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(drip, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    verifier = JWTVerifier(issuer=ISSUER, audience=API, clock=clock, timeout=0.2,
                           jwks_uri=f"http://127.0.0.1:{port}/jwks")
    try:
        with anyio.fail_after(10):
            response = await get(verifier, mint(clock))
        assert response.status_code == 503, response.text
        assert response.json()["error"] == "temporarily_unavailable"
        assert verifier.keys.fetches == 1
    finally:
        await verifier.aclose()
        server.close()
        await server.wait_closed()


@pytest.mark.parametrize("data", [
    b'{"a": 1}', '{"a": [1, {"b": null}]}', '{"a": "\u00e9"}'.encode("utf-16"),
    '{"a": "x"}'.encode("utf-32-le"), b"[1, 2.5, true]", '"text"',
])
def test_strict_json_reads_what_json_reads(data: bytes | str) -> None:
    """One decoder is made once for every read; it reads bytes in any UTF encoding and
    text as ``json.loads`` does."""
    assert remote.strict_loads(data) == json.loads(data)


@pytest.mark.parametrize(("data", "why"), [
    (b'{"a": 1, "a": 2}', "duplicate member name"),
    ('{"a": {"b": 1, "b": 1}}', "duplicate member name"),
    (b'{"exp": NaN}', "NaN is not JSON"), ("[Infinity]", "Infinity is not JSON"),
    ("\ufeff{}", "BOM"), (b"{", "Expecting property name"), (b"\xff\xfe\xff", "decode"),
])
def test_strict_json_refuses_repeated_names_constants_a_bom_and_garbage(
        data: bytes | str, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        remote.strict_loads(data)
