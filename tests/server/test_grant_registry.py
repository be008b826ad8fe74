"""Grants own both halves of their flow; both endpoints dispatch through one registry.

The registry keys each grant by the ``response_types`` and ``grant_type`` it
declares, refuses two grants for one key, and a :class:`GrantExtension`
registered for a grant is called by both of its halves: what OpenID Connect
will plug into, here with a stand-in extension.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from oauth_middleware import TokenStore
from oauth_middleware.errors import InvalidRequest
from oauth_middleware.models import Client, IssuedTokens, PendingAuthorization
from oauth_middleware.security import pkce_s256
from oauth_middleware.server.grants import (
    AuthorizationCodeGrant,
    AuthorizationGrant,
    ClientCredentialsGrant,
    Grant,
    GrantExtension,
    Grants,
    ImplicitGrant,
    TokenRequest,
)
from oauth_middleware.server.urlencoded import Params
from tests.server.authorize_harness import (
    SPA_REDIRECT,
    VERIFIER,
    Harness,
    answer,
    open_harness,
)

SPA_CODE = {"client_id": "spa", "redirect_uri": SPA_REDIRECT, "response_type": "code",
            "scope": "polls:read", "state": "s1", "code_challenge": pkce_s256(VERIFIER),
            "code_challenge_method": "S256", "nonce": "n-1"}


class Marker(GrantExtension):
    """Stands in for OpenID Connect: needs ``nonce`` at auth/, adds to both responses."""

    def __init__(self) -> None:
        self.checked: list[str] = []
        self.seen: list[TokenRequest] = []

    async def check_authorization(
        self, grant: AuthorizationGrant, client: Client, params: Params
    ) -> None:
        self.checked.append(f"{type(grant).__name__}:{client.client_id}")
        if params.get("nonce") is None:
            raise InvalidRequest("The nonce parameter is missing.")

    async def authorization_response(
        self, grant: AuthorizationGrant, client: Client, pending: PendingAuthorization,
        scopes: frozenset[str], answer: dict[str, str],
    ) -> None:
        answer["marker"] = (f"{type(grant).__name__}:{client.client_id}:{pending.user}:"
                            f"{sorted(scopes)}:{sorted(answer)}")

    async def token_response(
        self, grant: Grant, request: TokenRequest, issued: IssuedTokens,
        body: dict[str, object],
    ) -> None:
        self.seen.append(request)
        body["marker"] = f"{grant.GRANT_TYPE}:{request.client.client_id}:{issued.token.grant_id}"


@pytest.fixture
async def harness(store: TokenStore) -> AsyncIterator[Harness]:
    async with open_harness(store) as h:
        yield h


def test_each_grant_serves_the_keys_it_declares_and_one_instance_serves_both_halves(
    harness: Harness,
) -> None:
    grants = harness.server.grants
    assert set(grants.token) == {"authorization_code", "refresh_token", "client_credentials",
                                 "password", "urn:ietf:params:oauth:grant-type:device_code"}
    assert {t: type(g) for t, (_, g) in grants.authorization.items()} == {
        "code": AuthorizationCodeGrant, "token": ImplicitGrant}
    both = {id(grants.token["authorization_code"]), id(grants.authorization["code"][1])}
    assert both == {id(grants.instances[AuthorizationCodeGrant])}
    assert grants.fragment(["token"]) and grants.fragment(["token", "token"])
    assert not grants.fragment(["code"]) and not grants.fragment(["token", "code"])
    assert not grants.fragment([]) and not grants.fragment(["id_token"])


def test_a_second_grant_for_a_taken_key_is_refused_and_the_first_kept(harness: Harness) -> None:
    grants: Grants = harness.server.grants
    before = (dict(grants.token), dict(grants.authorization))

    class OtherCredentials(ClientCredentialsGrant):
        pass

    class OtherImplicit(ImplicitGrant):
        pass

    with pytest.raises(ValueError, match="grant_type 'client_credentials'"):
        grants.register(OtherCredentials)
    with pytest.raises(ValueError, match="response_type 'token'"):
        grants.register(OtherImplicit)
    with pytest.raises(ValueError, match="OtherImplicit is not registered"):
        grants.extend(OtherImplicit, Marker())
    assert (grants.token, grants.authorization) == before


async def test_an_extension_completes_the_code_grants_answers_at_both_endpoints(
    harness: Harness,
) -> None:
    marker = Marker()
    harness.server.grants.extend(AuthorizationCodeGrant, marker)
    page = await harness.consent("alice", **SPA_CODE)
    base, where, params = answer(await harness.decide(page))
    assert (base, where, params["state"]) == (SPA_REDIRECT, "query", "s1")
    assert params["marker"] == "AuthorizationCodeGrant:spa:alice:['polls:read']:['code']"
    assert marker.checked == ["AuthorizationCodeGrant:spa"]

    response = await harness.http.post("/oauth/token/", data={
        "grant_type": "authorization_code", "code": params["code"], "client_id": "spa",
        "redirect_uri": SPA_REDIRECT, "code_verifier": VERIFIER})
    body = response.json()
    assert response.status_code == 200, body
    assert response.headers["cache-control"] == "no-store"
    (seen,) = marker.seen
    assert seen.code is not None and seen.code.client_id == "spa" and seen.refresh is None
    assert body["marker"] == f"authorization_code:spa:{seen.code.grant_id}"
    assert body["scope"] == "polls:read" and body["token_type"] == "Bearer"
    token = await harness.store.resolve(body["access_token"])
    assert token is not None and (token.user, token.client_id) == ("alice", "spa")


async def test_an_extension_adds_to_the_implicit_fragment_and_not_to_other_grants(
    harness: Harness,
) -> None:
    marker = Marker()
    harness.server.grants.extend(ImplicitGrant, marker)
    page = await harness.consent("bob", **{**SPA_CODE, "response_type": "token"})
    base, where, params = answer(await harness.decide(page, user="bob"))
    assert (base, where, params["state"], params["token_type"]) == (
        SPA_REDIRECT, "fragment", "s1", "Bearer")
    assert params["marker"] == ("ImplicitGrant:spa:bob:['polls:read']:"
                                "['access_token', 'expires_in', 'scope', 'token_type']")
    assert "refresh_token" not in params

    page = await harness.consent("bob", **SPA_CODE)
    _, _, code_params = answer(await harness.decide(page, user="bob"))
    assert "marker" not in code_params and marker.checked == ["ImplicitGrant:spa"]


async def test_an_extension_refusal_redirects_only_after_client_and_redirect_uri_passed(
    harness: Harness,
) -> None:
    marker = Marker()
    harness.server.grants.extend(AuthorizationCodeGrant, marker)
    no_nonce = {k: v for k, v in SPA_CODE.items() if k != "nonce"}
    base, where, params = answer(await harness.authorize("alice", **no_nonce))
    assert (base, where, params["error"], params["state"]) == (
        SPA_REDIRECT, "query", "invalid_request", "s1")
    assert params["error_description"] == "The nonce parameter is missing."
    assert "code" not in params and await harness.code_keys() == []

    unregistered = await harness.authorize(
        "alice", **{**no_nonce, "redirect_uri": "https://evil.example/cb"})
    assert unregistered.status_code == 400 and "location" not in unregistered.headers
    assert marker.checked == ["AuthorizationCodeGrant:spa"]


class HybridStandIn(AuthorizationGrant):
    """An authorization-only grant whose GRANT_TYPE is a token grant's (as OpenID Connect's
    hybrid flow is authorization_code's): it takes a response type, not the grant type."""

    GRANT_TYPE = "authorization_code"
    RESPONSE_TYPES = frozenset({"code id_token"})  # type: ignore[arg-type]

    async def respond(self, client: Client, pending: PendingAuthorization,
                      scopes: frozenset[str]) -> dict[str, str]:
        return {}


def test_an_authorization_only_grant_sharing_a_grant_type_registers_with_its_extensions(
    harness: Harness,
) -> None:
    grants: Grants = harness.server.grants
    code_grant = grants.token["authorization_code"]
    marker = Marker()
    hybrid = grants.register(HybridStandIn, marker)
    assert grants.token["authorization_code"] is code_grant
    assert grants.authorization["code id_token"] == ("code id_token", hybrid)
    assert hybrid.extensions == (marker,) and code_grant.extensions == ()
