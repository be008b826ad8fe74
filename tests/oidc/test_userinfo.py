"""The UserInfo endpoint (OpenID Connect Core 1.0 §5.3, RFC 6750 §2-3) and the claims it
answers (§5.4), Basic OP test plan items by name; both store backends."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import httpx
import pytest

from oauth_middleware import TokenStore
from oauth_middleware.server.oidc import OpenIDProvider
from tests.oidc.harness import (
    CHALLENGE,
    OP,
    OTHER,
    OTHER_REDIRECT,
    RP,
    RP_SECRET,
    USERS,
    open_op,
)


@pytest.fixture
async def op(store: TokenStore) -> AsyncIterator[OP]:
    async with open_op(store) as provider:
        yield provider


async def signed_in(op: OP, scope: str) -> tuple[str, str]:
    """(access token, the ID token's sub) of alice signed in at ``rp`` with ``scope``."""
    body = (await op.code_flow(scope=scope)).json()
    return body["access_token"], (await op.id_token(body["id_token"]))[1]["sub"]


def assert_json(response: httpx.Response, status: int) -> dict[str, object]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    assert response.headers["cache-control"] == "no-store"
    body: dict[str, object] = response.json()
    return body


@pytest.mark.rule("oidc.userinfo.bearer", "oidc.claims.scope-bound")
async def test_userinfo_by_header_answers_the_granted_claims_and_the_id_tokens_sub(op: OP) -> None:
    """OP-UserInfo-Header: neither the hook's own "sub" nor its "salary" gets through."""
    token, sub = await signed_in(op, "openid profile email")
    body = assert_json(await op.h.http.get("/oauth/userinfo/",
                                           headers={"authorization": f"Bearer {token}"}), 200)
    assert body == {"sub": sub, "name": "Alice Liddell", "given_name": "Alice",
                    "family_name": "Liddell", "email": "alice@example.com",
                    "email_verified": True}
    assert sub == "alice"


@pytest.mark.rule("oidc.userinfo.bearer")
async def test_userinfo_by_form_body_answers_the_same(op: OP) -> None:
    """OP-UserInfo-Body: POST with access_token in an urlencoded body (RFC 6750 §2.2)."""
    token, sub = await signed_in(op, "openid email")
    body = assert_json(await op.h.http.post("/oauth/userinfo", data={"access_token": token}), 200)
    assert body == {"sub": sub, "email": "alice@example.com", "email_verified": True}


@pytest.mark.rule("oidc.claims.scope-bound")
@pytest.mark.parametrize(("scope", "claims"), [
    ("profile", {"name", "given_name", "family_name"}),
    ("email", {"email", "email_verified"}),
    ("address", {"address"}),
    ("phone", {"phone_number", "phone_number_verified"}),
    ("", set()),
])
async def test_each_standard_scope_grants_exactly_its_claims(
    op: OP, scope: str, claims: set[str]
) -> None:
    """OP-scope-profile, OP-scope-email, OP-scope-address, OP-scope-phone."""
    token, _ = await signed_in(op, f"openid {scope}".strip())
    body = assert_json(await op.h.http.get("/oauth/userinfo/",
                                           headers={"authorization": f"Bearer {token}"}), 200)
    assert set(body) == claims | {"sub"}
    assert all(body[c] == USERS["alice"][c] for c in claims)


@pytest.mark.rule("oidc.userinfo.bearer")
async def test_userinfo_refusals_carry_a_bearer_challenge(op: OP, store: TokenStore) -> None:
    token, _ = await signed_in(op, "openid")
    missing = await op.h.http.get("/oauth/userinfo/")
    assert_json(missing, 401)
    assert missing.headers["www-authenticate"] == 'Bearer realm="oauth"'
    in_url = await op.h.http.get("/oauth/userinfo/", params={"access_token": token})
    assert assert_json(in_url, 400)["error"] == "invalid_request"
    assert in_url.headers["www-authenticate"].startswith(
        'Bearer realm="oauth", error="invalid_request"')
    two = await op.h.http.post("/oauth/userinfo/", data={"access_token": token},
                               headers={"authorization": f"Bearer {token}"})
    assert assert_json(two, 400)["error"] == "invalid_request"
    assert await store.revoke_token(token)
    revoked = await op.h.http.get("/oauth/userinfo/",
                                  headers={"authorization": f"Bearer {token}"})
    assert assert_json(revoked, 401)["error"] == "invalid_token"
    assert revoked.headers["www-authenticate"].startswith(
        'Bearer realm="oauth", error="invalid_token"')


@pytest.mark.rule("oidc.userinfo.bearer")
async def test_a_token_without_openid_is_insufficient_scope(op: OP) -> None:
    body = (await op.code_flow(scope="polls:read")).json()
    response = await op.h.http.get("/oauth/userinfo/", headers={
        "authorization": f"Bearer {body['access_token']}"})
    assert assert_json(response, 403)["error"] == "insufficient_scope"
    assert response.headers["www-authenticate"].endswith('scope="openid"')


@pytest.mark.rule("oidc.userinfo.bearer")
async def test_a_client_credentials_token_stands_for_nobody_at_userinfo(op: OP) -> None:
    issued = await op.h.http.post("/oauth/token/", data={
        "grant_type": "client_credentials", "scope": "openid"}, auth=(RP, RP_SECRET))
    assert issued.status_code == 200, issued.text
    response = await op.h.http.get("/oauth/userinfo/", headers={
        "authorization": f"Bearer {issued.json()['access_token']}"})
    assert assert_json(response, 401)["error"] == "invalid_token"


async def test_userinfo_refuses_other_methods_with_405_json(op: OP) -> None:
    response = await op.h.http.put("/oauth/userinfo/")
    assert assert_json(response, 405)["error"] == "invalid_request"
    assert response.headers["allow"] == "GET, POST" and "www-authenticate" not in response.headers


def raising(user_id: str, scopes: frozenset[str]) -> dict[str, object]:
    raise RuntimeError("database down: password=hunter2")


async def not_json(user_id: str, scopes: frozenset[str]) -> object:
    return {"email": {1, 2}, "name": float("nan")}


def not_a_dict(user_id: str, scopes: frozenset[str]) -> object:
    return ["email", "alice@example.com"]


def huge(user_id: str, scopes: frozenset[str]) -> object:
    return {"name": "x" * 20_000, "email": "alice@example.com"}


@pytest.mark.rule("oidc.hook.isolated")
@pytest.mark.parametrize("hook", [raising, not_json, not_a_dict, huge])
async def test_a_failing_or_nonsensical_userinfo_hook_gives_only_sub_never_a_500(
    store: TokenStore, caplog: pytest.LogCaptureFixture, hook: object
) -> None:
    async with open_op(store, provider=OpenIDProvider(userinfo=hook)) as op:  # type: ignore[arg-type]
        with caplog.at_level(logging.ERROR, logger="oauth_middleware"):
            token, sub = await signed_in(op, "openid profile email")
            body = assert_json(await op.h.http.get(
                "/oauth/userinfo/", headers={"authorization": f"Bearer {token}"}), 200)
    assert body == {"sub": sub}
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "userinfo hook" in logged and "hunter2" not in logged and token not in logged


@pytest.mark.rule("oidc.pairwise")
async def test_pairwise_subjects_differ_per_sector_and_stay_stable_per_user(
    store: TokenStore
) -> None:
    """OP-IDToken-pairwise-sub: rp.example and other.example see unlinkable subs."""
    async with open_op(store, provider=OpenIDProvider(userinfo=None,
                                                      subject_type="pairwise")) as op:
        token, first = await signed_in(op, "openid")
        _, again = await signed_in(op, "openid")
        params = await op.approve(response_type="code", client_id=OTHER,
                                  redirect_uri=OTHER_REDIRECT, scope="openid", state="s",
                                  code_challenge=CHALLENGE, code_challenge_method="S256")
        other = (await op.redeem(params["code"], OTHER, OTHER_REDIRECT)).json()
        elsewhere = (await op.id_token(other["id_token"]))[1]["sub"]
        info = assert_json(await op.h.http.get(
            "/oauth/userinfo/", headers={"authorization": f"Bearer {token}"}), 200)
        bob = (await op.id_token((await op.code_flow("bob")).json()["id_token"]))[1]["sub"]
        discovery = (await op.h.http.get("/oauth/.well-known/openid-configuration")).json()
    assert first == again == info["sub"]
    assert len({first, elsewhere, bob, "alice"}) == 4
    assert discovery["subject_types_supported"] == ["pairwise"]
