"""Token exchange (RFC 8693) refusals: what a client could try to get more than it may.

Every refusal is a token-family error (status, code, no-store, safe text) and issues
nothing: the store holds no token for the caller afterwards.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace

import httpx
import pytest
from starlette.applications import Starlette

from oauth_middleware.models import TOKEN_EXCHANGE
from oauth_middleware.store import TokenStore
from oauth_middleware.toolbox import RegisteredClient
from tests.conftest import FakeClock
from tests.server.exchange_harness import (
    API_B,
    API_C,
    JWT,
    OTHER_KEY,
    exchange,
    exchange_app,
    foreign_jwt,
    form,
    own_token,
    services,
    user_token,
)
from tests.server.token_harness import (
    ISSUER,
    TOKEN_PATH,
    assert_error,
    auth_of,
    build_app,
    confidential,
    http,
    public,
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


async def exchanged(store: TokenStore, client_id: str) -> list[str]:
    """Fingerprints of the live exchanged access tokens issued to ``client_id``."""
    _, tokens = await store.list_tokens(client_id=client_id)
    return [t.fingerprint for t in tokens if t.exchange_depth]


async def refused(response: httpx.Response, store: TokenStore, error: str,
                  status: int = 400) -> None:
    assert_error(response, status, error)
    assert await exchanged(store, "api-b") == []


@pytest.mark.rule("exchange.confidential-only")
async def test_a_public_client_cannot_register_for_the_grant_nor_use_it(
    client: httpx.AsyncClient, store: TokenStore
) -> None:
    with pytest.raises(ValueError, match="public clients cannot"):
        await public(store, "spa", grant_types=[TOKEN_EXCHANGE])
    registered = await public(store, "spa")
    # a record written some other way (an older version, by hand) is refused all the same
    await store.save_client(replace(registered.client, grant_types=(
        "authorization_code", TOKEN_EXCHANGE)))
    subject, _ = await user_token(store, client_id="spa")
    response = await client.post(TOKEN_PATH, data=form(subject) | {"client_id": "spa"})
    assert_error(response, 400, "unauthorized_client")
    assert await exchanged(store, "spa") == []


@pytest.mark.rule("exchange.confidential-only")
async def test_a_client_not_registered_for_the_grant_is_refused(
    client: httpx.AsyncClient, store: TokenStore, clients: dict[str, RegisteredClient]
) -> None:
    subject, _ = await user_token(store)
    response = await exchange(client, clients["web"], subject, await own_token(store, "web"))
    assert_error(response, 400, "unauthorized_client")
    assert await exchanged(store, "web") == []


@pytest.mark.rule("exchange.confidential-only")
async def test_a_server_without_a_policy_does_not_know_the_grant(store: TokenStore) -> None:
    clients = await services(store)
    subject, _ = await user_token(store)
    async with http(build_app(store)) as plain:
        response = await exchange(plain, clients["api-b"], subject,
                                  await own_token(store, "api-b"))
    assert_error(response, 400, "unsupported_grant_type")


@pytest.mark.rule("exchange.confidential-only")
@pytest.mark.parametrize("kind", ["urn:ietf:params:oauth:token-type:refresh_token",
                                  "urn:ietf:params:oauth:token-type:id_token"])
async def test_another_requested_token_type_is_refused(
    client: httpx.AsyncClient, store: TokenStore, clients: dict[str, RegisteredClient], kind: str
) -> None:
    subject, _ = await user_token(store)
    await refused(await exchange(client, clients["api-b"], subject,
                                 await own_token(store, "api-b"), requested_token_type=kind),
                  store, "invalid_request")


@pytest.mark.rule("exchange.subject")
async def test_a_subject_token_meant_for_another_api_is_refused(
    client: httpx.AsyncClient, store: TokenStore, clients: dict[str, RegisteredClient]
) -> None:
    subject, _ = await user_token(store, audience=frozenset({"https://other.example/api"}))
    await refused(await exchange(client, clients["api-b"], subject,
                                 await own_token(store, "api-b")), store, "invalid_request")


@pytest.mark.rule("exchange.subject")
async def test_an_expired_subject_token_is_refused(
    client: httpx.AsyncClient, store: TokenStore, clients: dict[str, RegisteredClient],
    clock: FakeClock,
) -> None:
    subject, _ = await user_token(store, lifetime=60)
    actor = await own_token(store, "api-b")
    clock.advance(61)
    await refused(await exchange(client, clients["api-b"], subject, actor), store,
                  "invalid_request")


@pytest.mark.rule("exchange.subject")
async def test_a_revoked_subject_token_and_a_refresh_token_are_refused(
    client: httpx.AsyncClient, store: TokenStore, clients: dict[str, RegisteredClient]
) -> None:
    subject, refresh = await user_token(store)
    actor = await own_token(store, "api-b")
    await refused(await exchange(client, clients["api-b"], refresh, actor), store,
                  "invalid_request")
    assert await store.revoke_token(subject)
    await refused(await exchange(client, clients["api-b"], subject, actor), store,
                  "invalid_request")


@pytest.mark.rule("exchange.subject")
async def test_a_jwt_of_an_untrusted_issuer_or_key_or_for_a_client_is_refused(
    client: httpx.AsyncClient, store: TokenStore, clients: dict[str, RegisteredClient],
    clock: FakeClock,
) -> None:
    actor = await own_token(store, "api-b")
    for token in (foreign_jwt(clock, aud=[ISSUER, API_B], iss="https://evil.example"),
                  foreign_jwt(clock, aud=[ISSUER, API_B], key=OTHER_KEY),
                  foreign_jwt(clock, aud=[ISSUER, API_B], sub="idp-app"),  # a client's own
                  foreign_jwt(clock, aud=[ISSUER]),  # not meant for API B
                  foreign_jwt(clock, aud=API_B)):  # not meant for this server
        await refused(await exchange(client, clients["api-b"], token, actor, subject_type=JWT),
                      store, "invalid_request")
    # our own access token named as a JWT is checked as one, and is none
    subject, _ = await user_token(store)
    await refused(await exchange(client, clients["api-b"], subject, actor, subject_type=JWT),
                  store, "invalid_request")


@pytest.mark.rule("exchange.scope-and-audience")
async def test_a_wider_scope_is_refused(
    client: httpx.AsyncClient, store: TokenStore, clients: dict[str, RegisteredClient]
) -> None:
    subject, _ = await user_token(store, scopes=frozenset({"read"}))
    await refused(await exchange(client, clients["api-b"], subject,
                                 await own_token(store, "api-b"), scope="read write"),
                  store, "invalid_scope")


@pytest.mark.rule("exchange.scope-and-audience")
async def test_a_scope_the_client_lacks_is_never_issued(
    client: httpx.AsyncClient, store: TokenStore
) -> None:
    caller = await confidential(store, "narrow", scopes=("read",),
                                grant_types=["client_credentials", TOKEN_EXCHANGE])
    subject, _ = await user_token(store, client_id="narrow")  # read and write
    response = await exchange(client, caller, subject, await own_token(store, "narrow"))
    assert response.status_code == 200, response.text
    assert response.json()["scope"] == "read"


@pytest.mark.rule("exchange.scope-and-audience")
async def test_a_resource_the_client_may_not_use_is_invalid_target(
    client: httpx.AsyncClient, store: TokenStore, clients: dict[str, RegisteredClient]
) -> None:
    subject, _ = await user_token(store)
    actor = await own_token(store, "api-b")
    for extra in ({"resource": "https://elsewhere.example/"},
                  {"resource": [], "audience": "https://elsewhere.example/"},
                  {"resource": API_C + "#frag"}):
        await refused(await exchange(client, clients["api-b"], subject, actor, **extra),
                      store, "invalid_target")


@pytest.mark.rule("exchange.delegation")
async def test_delegation_without_an_actor_or_with_a_half_of_one_is_refused(
    client: httpx.AsyncClient, store: TokenStore, clients: dict[str, RegisteredClient]
) -> None:
    subject, _ = await user_token(store)
    actor = await own_token(store, "api-b")
    await refused(await exchange(client, clients["api-b"], subject), store, "invalid_request")
    await refused(await exchange(client, clients["api-b"], subject, actor_token=actor), store,
                  "invalid_request")
    await refused(await exchange(client, clients["api-b"], subject, actor_token_type=JWT),
                  store, "invalid_request")


@pytest.mark.rule("exchange.delegation")
async def test_an_actor_that_is_the_subject_or_another_clients_is_refused(
    client: httpx.AsyncClient, store: TokenStore, clients: dict[str, RegisteredClient]
) -> None:
    subject, _ = await user_token(store)
    own_alice, _ = await user_token(store, client_id="api-b")  # alice's token held by api-b
    for actor in (subject,  # the subject token itself
                  own_alice,  # the subject's identity as actor: alice acting for alice
                  await own_token(store, "api-imp"),  # another client's token
                  "not-a-token"):
        await refused(await exchange(client, clients["api-b"], subject, actor), store,
                      "invalid_request")


@pytest.mark.rule("exchange.subject")
async def test_huge_repeated_and_unknown_type_parameters_are_refused(
    client: httpx.AsyncClient, store: TokenStore, clients: dict[str, RegisteredClient]
) -> None:
    subject, _ = await user_token(store)
    actor = await own_token(store, "api-b")
    headers = auth_of(clients["api-b"])
    huge = form("x" * 5000, actor)
    assert_error(await client.post(TOKEN_PATH, data=huge, headers=headers), 400,
                 "invalid_request")
    doubled = {**form(subject, actor), "subject_token": [subject, subject]}
    assert_error(await client.post(TOKEN_PATH, data=doubled, headers=headers), 400,
                 "invalid_request")
    for kind in ("urn:ietf:params:oauth:token-type:saml2", "access_token\x00"):
        await refused(await exchange(client, clients["api-b"], subject, actor,
                                     subject_type=kind), store, "invalid_request")
    await refused(await exchange(client, clients["api-b"], subject, actor,
                                 actor_type="urn:x"), store, "invalid_request")
    assert await store.resolve(subject) is not None  # nothing consumed or revoked
