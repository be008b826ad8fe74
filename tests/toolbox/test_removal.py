"""Removing a client: nothing of it is accepted afterwards, whatever raced the removal.

A grant is issued only while the registration its issuer authenticated still
stands (one script checks the client record's generation and writes the grant
with its index entries); removal deletes the record first, then sweeps the index.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest

from oauth_middleware.models import AuthorizationCode, Client, IssuedTokens
from oauth_middleware.store import ClientRemoved, NewTokens, TokenStore
from oauth_middleware.toolbox import (
    UnknownClient,
    issue_code,
    issue_token,
    register_client,
    remove_client,
    require_client,
    update_client,
)
from tests.server.token_harness import (
    TOKEN_PATH,
    assert_invalid_client,
    auth_of,
    build_app,
    confidential,
    http,
)
from tests.store_helpers import redis_of

CB = "https://a.example/cb"
#: Issuers racing one removal, and the tokens each asks for at most.
ISSUERS, ROUNDS = 50, 20


def _spec(client: Client) -> NewTokens:
    """What the client_credentials grant issues for ``client`` as it authenticated it."""
    return NewTokens(client_id=client.client_id, subject=client.client_id,
                     subject_type="client", scopes=frozenset({"a:b"}),
                     client_generation=client.generation)


async def _keys_of_grants(store: TokenStore) -> list[bytes]:
    """Every token, code, member set and index key in the store."""
    prefix = store.keys.prefix
    return sorted([key async for key in redis_of(store).scan_iter(match=f"{prefix}*")
                   if key.decode().startswith(tuple(f"{prefix}{kind}:" for kind in
                                                    ("at", "rt", "code", "members", "idx")))])


@pytest.mark.rule("revoke.client-removed")
async def test_a_grant_for_a_removed_client_is_refused_and_writes_nothing(
    store: TokenStore,
) -> None:
    await register_client(store, "Svc", "svc", public=False, scopes_list=["a:b"],
                          grant_types=["client_credentials", "authorization_code"],
                          redirect_uri=CB)
    client = await require_client(store, "svc")
    assert client.generation
    assert await remove_client(store, "svc")
    with pytest.raises(ClientRemoved):
        await store.issue(_spec(client))
    code = AuthorizationCode(grant_id="", client_id="svc", subject="alice", redirect_uri=CB)
    with pytest.raises(ClientRemoved):
        await store.create_code(code, client_generation=client.generation)
    assert await _keys_of_grants(store) == []


@pytest.mark.rule("revoke.client-removed")
async def test_registering_a_removed_client_id_again_revives_none_of_its_tokens(
    store: TokenStore,
) -> None:
    await register_client(store, "Svc", "svc", public=False, scopes_list=["a:b"],
                          grant_types=["client_credentials", "authorization_code",
                                       "refresh_token"])
    first = await require_client(store, "svc")
    old = [await issue_token(store, "svc"), await issue_token(store, "svc", user="alice")]
    assert await remove_client(store, "svc")
    again = await register_client(store, "Svc", "svc", public=False, scopes_list=["a:b"],
                                  grant_types=["client_credentials", "authorization_code",
                                               "refresh_token"])
    assert again.client.generation not in ("", first.generation)
    for issued in old:
        assert await store.resolve(issued.access_token) is None
        assert await store.lookup(issued.refresh_token or issued.access_token) is None
    # A request that authenticated the first registration issues nothing now.
    with pytest.raises(ClientRemoved):
        await store.issue(_spec(first))
    fresh = await issue_token(store, "svc")
    assert await store.resolve(fresh.access_token) is not None
    # An edit read from the first registration never overwrites the second.
    assert not await store.save_client(replace(first, title="Stale"), only="same")
    assert (await require_client(store, "svc")).title == "Svc"


@pytest.mark.rule("revoke.client-removed")
async def test_registering_an_id_again_revokes_what_an_interrupted_removal_left(
    store: TokenStore,
) -> None:
    await register_client(store, "Svc", "svc", public=False, scopes_list=["a:b"],
                          grant_types=["client_credentials", "authorization_code",
                                       "refresh_token"])
    left = [await issue_token(store, "svc"), await issue_token(store, "svc", user="alice")]
    assert await store.delete_client("svc")  # the removal stopped before its sweep
    await register_client(store, "Svc", "svc", public=False, scopes_list=["a:b"],
                          grant_types=["client_credentials", "authorization_code",
                                       "refresh_token"])
    for issued in left:
        assert await store.resolve(issued.access_token) is None
        assert await store.lookup(issued.refresh_token or issued.access_token) is None
    assert await redis_of(store).zcard(store.keys.client_index("svc")) == 0
    assert await redis_of(store).exists(store.keys.user_index("alice")) == 0


@pytest.mark.rule("revoke.client-removed")
async def test_an_edit_racing_a_removal_never_brings_the_client_back(store: TokenStore) -> None:
    await register_client(store, "Web", "web", CB, scopes_list=["a:b"])
    read = await require_client(store, "web")
    assert await remove_client(store, "web")
    assert not await store.save_client(replace(read, title="Edited"), only="same")
    with pytest.raises(UnknownClient):
        await update_client(store, "web", title="Edited")
    assert await store.get_client("web") is None
    assert await redis_of(store).sismember(store.keys.clients, "web") == 0


@pytest.mark.rule("revoke.client-removed")
async def test_a_removal_racing_fifty_issuers_leaves_no_token_alive(store: TokenStore) -> None:
    """50 issuers, each with the client as it authenticated it, keep issuing while the
    client is removed; once removal returns, every token ever issued is refused."""
    await register_client(store, "Svc", "svc", public=False, scopes_list=["a:b"],
                          grant_types=["client_credentials"])
    client = await require_client(store, "svc")
    for _ in range(300):  # something for the sweep to do while the issuers run
        await store.issue(_spec(client))
    issued: list[IssuedTokens] = []
    refused = 0
    started = asyncio.Event()

    async def issuer() -> None:
        nonlocal refused
        for _ in range(ROUNDS):
            try:
                issued.append(await store.issue(_spec(client)))
            except ClientRemoved:
                refused += 1
                return
            if len(issued) >= ISSUERS:
                started.set()

    async def remover() -> None:
        await started.wait()
        assert await remove_client(store, "svc")

    await asyncio.gather(remover(), *(issuer() for _ in range(ISSUERS)))
    assert len(issued) >= ISSUERS and refused > 0
    assert [t for t in issued if await store.resolve(t.access_token) is not None] == []
    assert await _keys_of_grants(store) == []


@pytest.mark.rule("revoke.client-removed")
async def test_tooling_issuing_for_a_client_removed_meanwhile_is_told_it_is_unknown(
    store: TokenStore,
) -> None:
    await register_client(store, "Web", "web", CB, scopes_list=["a:b"])
    original_issue, original_code = store.issue, store.create_code

    async def issue(spec: NewTokens) -> IssuedTokens:
        await remove_client(store, "web")
        return await original_issue(spec)

    async def create_code(code: AuthorizationCode, **options: object) -> str:
        await remove_client(store, "web")
        return await original_code(code, **options)  # type: ignore[arg-type]

    store.issue = issue  # type: ignore[method-assign]
    with pytest.raises(UnknownClient, match="no client 'web'"):
        await issue_token(store, "web", user="alice")
    await register_client(store, "Web", "web", CB, scopes_list=["a:b"])
    store.create_code = create_code  # type: ignore[method-assign]
    with pytest.raises(UnknownClient, match="no client 'web'"):
        await issue_code(store, "web", user="alice", redirect_uri=CB, code_challenge="E" * 43)
    assert await _keys_of_grants(store) == []


@pytest.mark.rule("revoke.client-removed", "token.client-auth.failure")
async def test_a_client_removed_after_it_authenticated_gets_invalid_client_and_no_token(
    store: TokenStore,
) -> None:
    """The token endpoint read and authenticated the client, then it was removed before
    the grant was written: 401 invalid_client, and nothing stored."""
    web = await confidential(store, "web")
    original = store.issue

    async def removed_meanwhile(spec: NewTokens) -> IssuedTokens:
        assert await remove_client(store, "web")
        return await original(spec)

    store.issue = removed_meanwhile  # type: ignore[method-assign]
    async with http(build_app(store)) as client:
        response = await client.post(TOKEN_PATH, data={"grant_type": "client_credentials"},
                                     headers=auth_of(web))
    assert_invalid_client(response)
    assert "access_token" not in response.text
    assert await _keys_of_grants(store) == []



async def test_a_new_client_write_resent_after_a_lost_reply_succeeds_and_a_rival_does_not(
    store: TokenStore,
) -> None:
    """The client library resends a command whose reply was lost: the resent "new" write
    finds its own record (its generation is unique) and succeeds; another one is refused."""
    first = Client(client_id="web", title="Web", generation="g1")
    assert await store.save_client(first, only="new")
    assert await store.save_client(first, only="new")
    assert not await store.save_client(replace(first, generation="g2"), only="new")
    assert await require_client(store, "web") == first
