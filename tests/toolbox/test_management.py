"""Toolbox calls the CLI and the admin share: redirect URIs, token lifetimes, batched revocation."""

from __future__ import annotations

import pytest

from oauth_middleware import security
from oauth_middleware.redirects import InvalidRedirectURI
from oauth_middleware.store import NewTokens, TokenStore, _revocation
from oauth_middleware.toolbox import (
    MAX_LIFETIME,
    UnknownClient,
    add_redirect_uri,
    issue_token,
    register_client,
    remove_redirect_uri,
    require_client,
    revoke_access_token,
    revoke_client_tokens,
)
from tests.store_helpers import redis_of

CB = "https://a.example/cb"


@pytest.mark.rule("auth.redirect.registration-rules")
async def test_add_redirect_uri_checks_it_like_registration_and_adds_it_once(
    store: TokenStore,
) -> None:
    await register_client(store, "Web", "web", CB)
    for bad in ("http://b.example/cb", "https://b.example/cb#x", "https://*.example/", "cb"):
        with pytest.raises(InvalidRedirectURI):
            await add_redirect_uri(store, "web", bad)
    client = await add_redirect_uri(store, "web", "https://b.example/cb")
    assert client.redirect_uris == (CB, "https://b.example/cb")
    assert await add_redirect_uri(store, "web", "https://b.example/cb") == client
    await add_redirect_uri(store, "web", "http://b.example/cb", allow_http=True)
    assert await require_client(store, "web") == await store.get_client("web")
    stored = await store.get_client("web")
    assert stored is not None
    assert stored.redirect_uris == (CB, "https://b.example/cb", "http://b.example/cb")


async def test_remove_redirect_uri_needs_an_exact_match(store: TokenStore) -> None:
    await register_client(store, "Web", "web", [CB, "https://b.example/cb"])
    with pytest.raises(ValueError, match="has no redirect URI"):
        await remove_redirect_uri(store, "web", CB + "/")
    assert (await remove_redirect_uri(store, "web", CB)).redirect_uris == ("https://b.example/cb",)
    stored = await store.get_client("web")
    assert stored is not None and stored.redirect_uris == ("https://b.example/cb",)
    with pytest.raises(UnknownClient):
        await remove_redirect_uri(store, "nope", CB)
    with pytest.raises(UnknownClient):
        await add_redirect_uri(store, "nope", CB)


async def test_issue_token_refuses_a_lifetime_that_is_not_positive(store: TokenStore) -> None:
    await register_client(store, "Web", "web", CB, scopes_list=["a:b"])
    for lifetime in (0, -5):
        with pytest.raises(ValueError, match="positive"):
            await issue_token(store, "web", user="alice", lifetime=lifetime)
    assert await store.list_tokens() == (0, [])


async def test_issue_token_refuses_a_lifetime_past_ten_years_and_later_issues_work(
    store: TokenStore,
) -> None:
    await register_client(store, "Web", "web", CB, scopes_list=["a:b"])
    keys = sorted(await redis_of(store).keys("*"))
    for lifetime in (MAX_LIFETIME + 1, 99999999999999999999):
        with pytest.raises(ValueError, match=f"up to {MAX_LIFETIME} \\(ten years\\)"):
            await issue_token(store, "web", user="alice", lifetime=lifetime)
    assert sorted(await redis_of(store).keys("*")) == keys  # no index entry, no token
    issued = await issue_token(store, "web", user="alice", lifetime=MAX_LIFETIME)
    assert await store.resolve(issued.access_token) == issued.token
    assert await store.revoke_user("alice") == 2  # the access and the refresh token


@pytest.mark.rule("revoke.index-bounded")
async def test_revoke_user_reports_progress_and_unindexes_the_grants_from_their_client(
    store: TokenStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_revocation, "REVOKE_BATCH", 2)
    spec = NewTokens(client_id="web", subject="alice", refresh=True)
    alice = [await store.issue(spec) for _ in range(5)]
    bob = await store.issue(NewTokens(client_id="web", subject="bob"))
    seen: list[tuple[int, int]] = []
    assert await redis_of(store).zcard(store.keys.client_index("web")) == 6
    assert await store.revoke_user("alice", progress=lambda *p: seen.append(p)) == 10
    assert seen[-1] == (5, 5) and seen == sorted(seen)  # pages: real Redis may take all 5
    assert all([await store.resolve(t.access_token) is None for t in alice])
    assert await store.resolve(bob.access_token) is not None
    assert await redis_of(store).exists(store.keys.user_index("alice")) == 0
    # alice's revoked grants left the client's index too: only bob's is listed.
    assert await redis_of(store).zrange(store.keys.client_index("web"), 0, -1) == [
        bob.token.grant_id.encode()]
    seen.clear()
    assert await store.revoke_client_tokens("web", progress=lambda *p: seen.append(p)) == 1
    assert seen == [(1, 1)]
    assert await store.resolve(bob.access_token) is None
    assert await redis_of(store).exists(store.keys.client_index("web"),
                                    store.keys.user_index("bob")) == 0


async def test_revoke_access_token_takes_one_token_by_grant_and_fingerprint(
    store: TokenStore,
) -> None:
    await register_client(store, "Web", "web", CB, scopes_list=["a:b"])
    issued = await issue_token(store, "web", user="alice")
    grant, fingerprint = issued.token.grant_id, issued.token.fingerprint
    for bad_grant, bad_fingerprint in [("", fingerprint), (grant, "ABC"), (grant, "0" * 11),
                                       (grant, "0" * 65), (grant, "0" * 12)]:
        assert not await revoke_access_token(store, bad_grant, bad_fingerprint)
    assert await store.resolve(issued.access_token) is not None
    assert await revoke_access_token(store, grant, fingerprint)
    assert await store.resolve(issued.access_token) is None
    assert await store.lookup(issued.refresh_token or "") is not None
    assert not await revoke_access_token(store, grant, fingerprint)


async def test_revoke_client_tokens_needs_a_registered_client(store: TokenStore) -> None:
    await register_client(store, "Web", "web", CB, scopes_list=["a:b"])
    issued = await issue_token(store, "web", user="alice")
    with pytest.raises(UnknownClient, match="no client 'nope'"):
        await revoke_client_tokens(store, "nope")
    assert await store.resolve(issued.access_token) is not None
    assert await revoke_client_tokens(store, "web") == 2
    assert await store.resolve(issued.access_token) is None


@pytest.mark.rule("token.client-auth.url-safe-ids")
def test_generated_ids_never_start_with_a_dash() -> None:
    """A client id, grant id or token starting with '-' would read as a command-line option."""
    values = [security.new_client_id() for _ in range(2000)]
    values += [security.new_token(security.new_grant_id()) for _ in range(2000)]
    assert not [v for v in values if v.startswith("-")]
