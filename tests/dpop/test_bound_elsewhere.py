"""A bound token is nothing without its key anywhere we accept tokens (RFC 9449 §6, §7.2):
RFC 9068 JWTs carry ``cnf``, foreign JWTs' ``cnf`` is honoured, and userinfo/, introspect/
and auth/ never take a bound token as a bearer one."""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx
import pytest
from starlette.requests import HTTPConnection

from oauth_middleware.identity import carries_bearer
from oauth_middleware.store import NewTokens, TokenStore
from oauth_middleware.verifiers.jwt import JWTVerifier
from tests.conftest import FakeClock
from tests.dpop.apps import ME, TOKEN_URL, build_app
from tests.dpop.holder import Holder
from tests.oidc.harness import OP, open_op
from tests.server.token_harness import TOKEN_PATH, auth_of, confidential, http
from tests.servers import UvicornProcess
from tests.test_jwt_verifier import claims, get, issuers, mint, servers, verifier

__all__ = ["issuers", "servers", "verifier"]  # fixtures of the JWT verifier's tests


def claims_of(token: str) -> dict[str, Any]:
    part = token.split(".")[1]
    data: dict[str, Any] = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    return data


@pytest.mark.rule("dpop.server.bind")
async def test_a_jwt_access_token_carries_cnf_and_is_still_checked_in_the_store(
        store: TokenStore, clock: FakeClock) -> None:
    web, holder = await confidential(store, access_token_format="jwt"), Holder()
    async with http(build_app(store)) as client:
        response = await client.post(
            TOKEN_PATH, data={"grant_type": "client_credentials"},
            headers={**auth_of(web), "DPoP": holder.proof("POST", TOKEN_URL, now=clock.now)})
        token = response.json()["access_token"]
        assert response.json()["token_type"] == "DPoP"
        assert claims_of(token)["cnf"] == {"jkt": holder.jkt}
        bearer = await client.get("/me", headers={"Authorization": f"Bearer {token}"})
        assert bearer.status_code == 401
        assert bearer.headers["www-authenticate"].startswith('DPoP realm="api", '
                                                             'error="invalid_token"')
        proved = await client.get("/me", headers={
            "Authorization": f"DPoP {token}",
            "DPoP": holder.proof("GET", ME, now=clock.now, access_token=token)})
        assert proved.status_code == 200, proved.text


@pytest.mark.rule("dpop.resource.scheme")
async def test_a_foreign_jwt_bound_by_cnf_jkt_is_refused_as_a_bearer_token(
        issuers: tuple[UvicornProcess, UvicornProcess], verifier: JWTVerifier,
        clock: FakeClock) -> None:
    a = issuers[0]
    bound = await get(verifier, await mint(a, claims(clock, cnf={"jkt": Holder().jkt})))
    assert bound.status_code == 401
    assert bound.json()["error"] == "invalid_token"
    assert bound.headers["www-authenticate"].startswith('DPoP realm="api"')
    other_cnf = await get(verifier, await mint(a, claims(clock, cnf={"x5t#S256": "abc"})))
    assert other_cnf.status_code == 200, other_cnf.text


@pytest.mark.rule("dpop.resource.scheme")
async def test_userinfo_refuses_a_bound_token_sent_as_bearer(store: TokenStore) -> None:
    op: OP
    async with open_op(store) as op:
        issued = await store.issue(NewTokens(client_id="rp", subject="alice",
                                             scopes=frozenset({"openid"}), jkt=Holder().jkt))
        response = await op.h.http.get("/oauth/userinfo/", headers={
            "authorization": f"Bearer {issued.access_token}"})
    assert response.status_code == 401
    assert response.json() == {"error": "invalid_token",
                               "error_description": "A DPoP-bound token is not accepted here."}


@pytest.mark.rule("dpop.resource.scheme")
def test_a_dpop_authorization_header_is_never_a_login() -> None:
    for value in (b"DPoP abc", b"dpop abc", b" DPoP", b"DPoP,"):
        conn = HTTPConnection({"type": "http", "headers": [(b"authorization", value)],
                               "query_string": b""})
        assert carries_bearer(conn), value
    other = HTTPConnection({"type": "http", "headers": [(b"authorization", b"DPoPx abc")],
                            "query_string": b""})
    assert not carries_bearer(other)


async def test_introspection_by_a_bound_resource_token_is_refused(store: TokenStore) -> None:
    """A resource server's own token with the introspection scope, when DPoP-bound, is
    no bearer credential either."""
    issued = await store.issue(NewTokens(client_id="rs", subject="rs", subject_type="client",
                                         scopes=frozenset({"introspect"}), jkt=Holder().jkt))
    async with http(build_app(store, introspection_scope="introspect")) as client:
        response: httpx.Response = await client.post(
            "/oauth/introspect/", data={"token": issued.access_token},
            headers={"Authorization": f"Bearer {issued.access_token}"})
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_token"
