"""The issuer's key set as JWTVerifier keeps it: cache lifetime, discovery URLs, which keys.

Pure parsing, so the answers come from an ``httpx.MockTransport``; the network paths
(discovery, rotation, rate limit, outage) run against real issuers in
tests/test_jwt_verifier.py.
"""

from __future__ import annotations

import email.utils
from collections.abc import Callable

import httpx
import pytest
from joserfc.jwk import ECKey, OctKey, RSAKey

from oauth_middleware import JWTVerifier, StoreUnavailable
from oauth_middleware.verifiers.jwks import metadata_urls, ttl
from tests.conftest import FakeClock

ISSUER = "https://issuer.example/realms/a"
JWKS = "https://issuer.example/jwks"


@pytest.mark.parametrize(("headers", "seconds"), [
    ({"Cache-Control": "public, max-age=120"}, 120.0),
    ({"Cache-Control": "max-age=120", "Age": "20"}, 100.0),
    ({"Cache-Control": "max-age=\"90\", must-revalidate"}, 90.0),
    ({"Cache-Control": "no-store"}, 0.0),
    ({"Cache-Control": "no-cache, max-age=600"}, 0.0),
    ({"Expires": email.utils.formatdate(1_000_050, usegmt=True)}, 50.0),
    ({"Expires": "yesterday"}, 0.0),
    ({}, 300.0),
])
def test_the_key_sets_lifetime_follows_its_http_cache_headers(
    headers: dict[str, str], seconds: float
) -> None:
    assert ttl(httpx.Headers(headers), 1_000_000.0, 300.0) == seconds


def test_metadata_is_looked_for_where_rfc_8414_and_oidc_discovery_put_it() -> None:
    assert metadata_urls(ISSUER) == (
        "https://issuer.example/.well-known/oauth-authorization-server/realms/a",
        "https://issuer.example/realms/a/.well-known/openid-configuration",
        "https://issuer.example/realms/a/.well-known/oauth-authorization-server",
    )
    assert metadata_urls("https://tenant.example/") == (
        "https://tenant.example/.well-known/oauth-authorization-server",
        "https://tenant.example/.well-known/openid-configuration",
    )


def _verifier(answer: Callable[[httpx.Request], httpx.Response], clock: FakeClock,
              **options: object) -> JWTVerifier:
    client = httpx.AsyncClient(transport=httpx.MockTransport(answer))
    return JWTVerifier(issuer=ISSUER, audience="https://api.example", clock=clock,
                       http_client=client, **options)  # type: ignore[arg-type]


async def test_only_asymmetric_signing_keys_are_kept_first_of_each_kid_up_to_the_bound(
    clock: FakeClock,
) -> None:
    """An ``oct`` key in a published set would let its readers mint tokens; an ``enc`` key
    is for encryption; a repeated kid keeps its first key."""
    rsa = RSAKey.generate_key(2048, parameters={"kid": "rsa"})
    ec = ECKey.generate_key("P-256", parameters={"kid": "ec"})
    twin = RSAKey.generate_key(2048, parameters={"kid": "rsa"})
    keys = [
        "not a key", {"kty": "RSA", "kid": "broken", "n": "AQAB"},
        OctKey.generate_key(256, parameters={"kid": "oct"}).as_dict(),
        RSAKey.generate_key(2048, parameters={"kid": "enc", "use": "enc"}).as_dict(private=False),
        rsa.as_dict(private=False), twin.as_dict(private=False), ec.as_dict(private=False),
        RSAKey.generate_key(2048, parameters={"kid": "extra"}).as_dict(private=False),
    ]
    verifier = _verifier(lambda request: httpx.Response(200, json={"keys": keys}), clock,
                         jwks_uri=JWKS, max_keys=2)
    found = {kid: await verifier.keys.key(kid) for kid in
             ("rsa", "ec", "oct", "enc", "broken", "extra")}
    assert {kid for kid, key in found.items() if key is not None} == {"rsa", "ec"}
    assert found["rsa"] is not None and found["rsa"].as_dict() == rsa.as_dict(private=False)
    assert await verifier.keys.key(None) is None  # two keys: a token must name one
    await verifier.aclose()


async def test_the_current_key_is_read_without_a_fetch_and_only_while_the_set_is_fresh(
    clock: FakeClock,
) -> None:
    """What a remembered verdict checks on every request: never a fetch, never a stale set."""
    rsa = RSAKey.generate_key(2048, parameters={"kid": "rsa"})
    asked: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        asked.append(str(request.url))
        return httpx.Response(200, json={"keys": [rsa.as_dict(private=False)]},
                              headers={"Cache-Control": "max-age=120"})

    verifier = _verifier(answer, clock, jwks_uri=JWKS)
    assert verifier.keys.current("rsa") is None and asked == []
    key = await verifier.keys.key("rsa")
    assert key is not None and verifier.keys.current("rsa") is key
    assert verifier.keys.current("other") is None
    clock.advance(120)
    assert verifier.keys.current("rsa") is None and asked == [JWKS]
    await verifier.aclose()


@pytest.mark.parametrize("answer", [
    httpx.Response(500, json={"keys": []}),
    httpx.Response(200, json={"no": "keys"}),
    httpx.Response(200, text="<html>maintenance</html>"),
    httpx.Response(200, json={"keys": [], "padding": "x" * 300_000}),
])
async def test_a_key_set_that_cannot_be_had_is_unavailable_not_invalid(
    clock: FakeClock, answer: httpx.Response
) -> None:
    verifier = _verifier(lambda request: answer, clock, jwks_uri=JWKS)
    with pytest.raises(StoreUnavailable):
        await verifier.keys.key("any")
    await verifier.aclose()


@pytest.mark.parametrize("document", [
    {"issuer": ISSUER, "jwks_uri": "http://issuer.example/jwks"},
    {"issuer": ISSUER + "/", "jwks_uri": JWKS},
    {"issuer": ISSUER, "jwks_uri": 7},
])
async def test_metadata_naming_another_issuer_or_plain_http_keys_is_refused(
    clock: FakeClock, document: dict[str, object]
) -> None:
    asked: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        asked.append(str(request.url))
        if request.url.path.endswith("openid-configuration"):
            return httpx.Response(200, json=document)
        return httpx.Response(404)

    verifier = _verifier(answer, clock)
    with pytest.raises(StoreUnavailable):
        await verifier.keys.key("any")
    assert asked == list(metadata_urls(ISSUER)[:2])  # never the jwks_uri it named
    await verifier.aclose()
