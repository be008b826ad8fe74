"""Token exchange (RFC 8693) through the mounted server: delegation, impersonation, foreign JWTs.

Each exchanged token is then shown to the protected route and to introspection, so what
the server recorded (subject, actor, audience, scope) is what resource servers see.
"""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from oauth_middleware.models import TOKEN_EXCHANGE
from oauth_middleware.server import ExchangeClient, TokenExchangePolicy
from oauth_middleware.settings_checks import ConfigurationError
from oauth_middleware.store import TokenStore
from oauth_middleware.toolbox import RegisteredClient
from tests.conftest import FakeClock
from tests.server.exchange_harness import (
    ACCESS,
    API_B,
    API_C,
    JWT,
    exchange,
    exchange_app,
    foreign_jwt,
    own_token,
    services,
    user_token,
)
from tests.server.token_harness import (
    INTROSPECT_PATH,
    ISSUER,
    METADATA_URL,
    assert_no_store,
    auth_of,
    build_app,
    http,
)


@pytest.fixture
def app(store: TokenStore, clock: FakeClock) -> Starlette:
    return exchange_app(store, clock)


@pytest.fixture
async def client(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    async with http(app) as c:
        yield c


@pytest.fixture
async def clients(store: TokenStore) -> dict[str, RegisteredClient]:
    return await services(store)


def ok(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    assert_no_store(response)
    body: dict[str, Any] = response.json()
    assert set(body) == {"access_token", "token_type", "expires_in", "scope", "issued_token_type"}
    assert body["token_type"] == "Bearer" and body["issued_token_type"] == ACCESS
    return body


async def introspect(client: httpx.AsyncClient, caller: RegisteredClient, token: str
                     ) -> dict[str, Any]:
    response = await client.post(INTROSPECT_PATH, data={"token": token}, headers=auth_of(caller))
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


@pytest.mark.rule("exchange.delegation", "exchange.confidential-only")
async def test_delegation_issues_a_token_for_the_user_with_the_caller_recorded_as_actor(
    client: httpx.AsyncClient, store: TokenStore, clients: dict[str, RegisteredClient]
) -> None:
    subject, _ = await user_token(store)
    actor = await own_token(store, "api-b")
    body = ok(await exchange(client, clients["api-b"], subject, actor))
    assert body["scope"] == "read write" and body["expires_in"] == 3600
    record = await store.resolve(body["access_token"])
    parent = await store.resolve(subject)
    assert record is not None and parent is not None
    assert (record.subject, record.subject_type, record.client_id) == ("alice", "user", "api-b")
    assert record.audience == {API_C} and json.loads(record.act) == {"client_id": "api-b"}
    assert record.parent_grant == parent.grant_id and record.exchange_depth == 1
    me = await client.get("/me", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert me.status_code == 200 and me.json()["user"] == "alice"
    seen = await introspect(client, clients["api-b"], body["access_token"])
    assert seen["active"] is True and seen["sub"] == "alice" and seen["client_id"] == "api-b"
    assert seen["act"] == {"client_id": "api-b"} and seen["aud"] == API_C


@pytest.mark.rule("exchange.delegation")
async def test_impersonation_records_no_actor_and_refuses_an_actor_token(
    client: httpx.AsyncClient, store: TokenStore, clients: dict[str, RegisteredClient]
) -> None:
    subject, _ = await user_token(store)
    refused = await exchange(client, clients["api-imp"], subject, await own_token(store, "api-imp"))
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_request"
    body = ok(await exchange(client, clients["api-imp"], subject))
    record = await store.resolve(body["access_token"])
    assert record is not None and record.act == "" and record.subject == "alice"
    seen = await introspect(client, clients["api-imp"], body["access_token"])
    assert "act" not in seen and seen["sub"] == "alice" and seen["aud"] == API_C


@pytest.mark.rule("exchange.delegation")
async def test_a_second_delegation_nests_the_first_actor(
    client: httpx.AsyncClient, store: TokenStore, clients: dict[str, RegisteredClient]
) -> None:
    subject, _ = await user_token(store)
    first = ok(await exchange(client, clients["api-b"], subject, await own_token(store, "api-b")))
    # api-b exchanges its own exchanged token again (depth 2), now with alice's consent
    # carried by the first token: the actor chain is recorded innermost last.
    second = ok(await exchange(client, clients["api-b"], first["access_token"],
                               await own_token(store, "api-b"), resource=API_C))
    seen = await introspect(client, clients["api-b"], second["access_token"])
    assert seen["act"] == {"client_id": "api-b", "act": {"client_id": "api-b"}}


@pytest.mark.rule("exchange.delegation")
async def test_a_jwt_access_token_from_an_exchange_carries_act(
    client: httpx.AsyncClient, store: TokenStore
) -> None:
    clients = await services(store, access_token_format="jwt")
    subject, _ = await user_token(store)
    body = ok(await exchange(client, clients["api-b"], subject, await own_token(store, "api-b")))
    payload = body["access_token"].split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    assert claims["sub"] == "alice" and claims["aud"] == API_C
    assert claims["act"] == {"client_id": "api-b"} and claims["client_id"] == "api-b"


@pytest.mark.rule("exchange.subject")
async def test_a_trusted_issuers_jwt_is_exchanged_for_a_token_of_ours(
    client: httpx.AsyncClient, store: TokenStore, clients: dict[str, RegisteredClient],
    clock: FakeClock,
) -> None:
    token = foreign_jwt(clock, aud=[ISSUER, API_B])
    body = ok(await exchange(client, clients["api-b"], token, await own_token(store, "api-b"),
                             subject_type=JWT))
    record = await store.resolve(body["access_token"])
    assert record is not None and record.subject == "alice" and record.scopes == {"read"}
    assert record.parent_grant == "" and record.exchange_depth == 1
    assert body["expires_in"] <= 600  # never outlives the subject token
    clock.advance(601)
    assert await store.resolve(body["access_token"]) is None


@pytest.mark.rule("exchange.subject")
async def test_the_exchanged_token_never_outlives_its_subject_token(
    client: httpx.AsyncClient, store: TokenStore, clients: dict[str, RegisteredClient],
    clock: FakeClock,
) -> None:
    subject, _ = await user_token(store, lifetime=100)
    clock.advance(40)
    body = ok(await exchange(client, clients["api-b"], subject, await own_token(store, "api-b")))
    assert body["expires_in"] == 60
    record = await store.resolve(body["access_token"])
    assert record is not None and record.expires_at == clock.now + 60


@pytest.mark.rule("exchange.scope-and-audience")
async def test_a_narrower_scope_and_another_audience_are_issued_as_asked(
    client: httpx.AsyncClient, store: TokenStore, clients: dict[str, RegisteredClient]
) -> None:
    subject, _ = await user_token(store)
    body = ok(await exchange(client, clients["api-b"], subject, await own_token(store, "api-b"),
                             scope="read", resource=[], audience=API_C))
    record = await store.resolve(body["access_token"])
    assert body["scope"] == "read" and record is not None and record.audience == {API_C}


@pytest.mark.rule("exchange.confidential-only")
async def test_metadata_lists_token_exchange_only_on_a_server_configured_for_it(
    client: httpx.AsyncClient, store: TokenStore
) -> None:
    listed = (await client.get(METADATA_URL)).json()["grant_types_supported"]
    assert TOKEN_EXCHANGE in listed
    async with http(build_app(store)) as plain:
        assert TOKEN_EXCHANGE not in (await plain.get(METADATA_URL)).json()[
            "grant_types_supported"]


def test_a_wrong_token_exchange_option_is_refused_at_construction(store: TokenStore) -> None:
    with pytest.raises(ConfigurationError, match="TokenExchangePolicy"):
        build_app(store, token_exchange={"api-b": "delegation"})
    with pytest.raises(TypeError, match="trusted_issuers"):
        TokenExchangePolicy(trusted_issuers=["https://idp.example"])  # type: ignore[list-item]
    with pytest.raises(TypeError, match="ExchangeClient"):
        TokenExchangePolicy(clients={"api-b": True})  # type: ignore[dict-item]
    with pytest.raises(ValueError, match="absolute URI"):
        ExchangeClient(accepts={"b.example/api"})
