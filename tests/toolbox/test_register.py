"""register_client and friends: oauthost's toolbox, with every registration rule enforced."""

from __future__ import annotations

import pytest
from starlette.authentication import SimpleUser

from oauth_middleware.errors import InvalidScope
from oauth_middleware.models import Scope
from oauth_middleware.redirects import InvalidRedirectURI
from oauth_middleware.security import digest, verify_client_secret
from oauth_middleware.store import TokenStore
from oauth_middleware.toolbox import (
    ClientExists,
    UnknownClient,
    grantable_scopes,
    issue_token,
    register_client,
    remove_client,
    rotate_secret,
    scope_title,
)
from tests.store_helpers import redis_of


async def test_seed_register_client_call_works(store: TokenStore) -> None:
    my_scopes = ["polls:vote", "polls:stats"]
    user = SimpleUser("alice")
    registered = await register_client(store, "My OAuth Client", "1234", "https://myapp.com/",
                                       user, scopes_list=my_scopes)
    client = await store.get_client("1234")
    assert client == registered.client
    assert client is not None
    assert client.title == "My OAuth Client" and client.redirect_uris == ("https://myapp.com/",)
    assert client.scopes == ("polls:vote", "polls:stats") and client.registrant == "alice"
    assert client.public and registered.client_secret is None
    assert client.grant_types == ("authorization_code", "refresh_token")
    scopes = await store.get_scopes(my_scopes)
    assert scopes["polls:stats"] == Scope("polls:stats", "Polls Stats", True)


@pytest.mark.rule("rest.no-raw-secrets")
async def test_confidential_client_secret_is_shown_once_and_stored_hashed(
    store: TokenStore,
) -> None:
    registered = await register_client(store, "Web", None, ["https://a.example/cb"], public=False)
    secret = registered.client_secret
    assert secret is not None and secret not in repr(registered)
    client = await store.get_client(registered.client.client_id)
    assert client is not None and client.secret_hash is not None
    assert secret not in client.secret_hash
    assert verify_client_secret(client.secret_hash, secret)
    assert "client_credentials" in client.grant_types
    raw = await redis_of(store).get(store.keys.client(client.client_id))
    assert raw is not None and secret.encode() not in raw


async def test_rotating_a_secret_invalidates_the_old_one(store: TokenStore) -> None:
    old = await register_client(store, "Web", "web", "https://a.example/cb", public=False)
    new = await rotate_secret(store, "web")
    assert old.client_secret and new.client_secret and old.client_secret != new.client_secret
    assert new.client.secret_hash is not None
    assert not verify_client_secret(new.client.secret_hash, old.client_secret)
    with pytest.raises(UnknownClient):
        await rotate_secret(store, "nope")
    await register_client(store, "Spa", "spa", "https://a.example/cb")
    with pytest.raises(ValueError, match="public"):
        await rotate_secret(store, "spa")


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"redirect_uri": "http://myapp.com/"}, "plain http"),
    ({"identifier": "bad id"}, "client id"),
    ({"identifier": "a:b"}, "client id"),
    ({"grant_types": ["client_credentials"], "scopes_list": ["s:1"]}, "public clients"),
    ({"grant_types": ["magic"], "scopes_list": ["s:1"]}, "unknown grant type"),
    ({"token_lifetime": 0, "scopes_list": ["s:1"]}, "token_lifetime"),
    ({"redirect_uri": "ftp://a", "scopes_list": ["s:1"]}, "private-use scheme"),
    ({"scopes_list": ["new:scope"], "register_unknown_scopes": False}, "unknown scope"),
    ({"scopes_list": ["two words"]}, "invalid scope identifier"),
])
@pytest.mark.rule("auth.redirect.registration-rules")
async def test_registration_rules_raise_with_a_message(
    store: TokenStore, kwargs: dict[str, object], message: str
) -> None:
    args: dict[str, object] = {"redirect_uri": "https://a.example/cb", **kwargs}
    with pytest.raises(ValueError, match=message):
        await register_client(store, "T", **args)  # type: ignore[arg-type]
    assert await store.list_scopes() == []


@pytest.mark.rule("auth.redirect.registration-rules")
async def test_redirect_uri_errors_are_their_own_type(store: TokenStore) -> None:
    with pytest.raises(InvalidRedirectURI):
        await register_client(store, "T", "t", "https://a.example/cb#x")
    assert (await register_client(store, "T", "t", "http://myapp.com/", allow_http=True)).client


async def test_duplicate_client_ids_are_refused_unless_replacing(store: TokenStore) -> None:
    await register_client(store, "One", "same", "https://a.example/cb")
    with pytest.raises(ClientExists):
        await register_client(store, "Two", "same", "https://a.example/cb")
    replaced = await register_client(store, "Two", "same", "https://a.example/cb",
                                     replace_existing=True)
    assert replaced.client.title == "Two"


async def test_scope_rules_for_a_client_with_a_list(store: TokenStore) -> None:
    client = (await register_client(store, "T", "t", "https://a.example/cb",
                                    scopes_list=["a:read", "a:write"])).client
    await store.save_scope(Scope("a:write", "Write", enabled=False))
    assert await grantable_scopes(store, client, ["a:read"]) == {"a:read"}
    assert await grantable_scopes(store, client, None) == {"a:read"}
    with pytest.raises(InvalidScope):
        await grantable_scopes(store, client, ["a:write"])
    with pytest.raises(InvalidScope):
        await grantable_scopes(store, client, ["b:other"])


async def test_scope_rules_for_a_client_without_a_list(store: TokenStore) -> None:
    client = (await register_client(store, "T", "t", "https://a.example/cb")).client
    await store.save_scope(Scope("x:y", "XY"))
    assert await grantable_scopes(store, client, ["x:y"]) == {"x:y"}
    with pytest.raises(InvalidScope, match="no default scope"):
        await grantable_scopes(store, client, [])
    with pytest.raises(InvalidScope, match="unknown or disabled"):
        await grantable_scopes(store, client, ["unregistered"])


async def test_all_disabled_default_scopes_grant_nothing(store: TokenStore) -> None:
    client = (await register_client(store, "T", "t", "https://a.example/cb",
                                    scopes_list=["a:read"])).client
    await store.save_scope(Scope("a:read", "Read", enabled=False))
    with pytest.raises(InvalidScope):
        await grantable_scopes(store, client, None)


@pytest.mark.rule("token.client-credentials")
async def test_issue_token_for_a_user_and_for_the_client(store: TokenStore) -> None:
    await register_client(store, "Web", "web", "https://a.example/cb", public=False,
                          scopes_list=["polls:vote"], token_lifetime=600)
    for_user = await issue_token(store, "web", user="alice")
    assert for_user.refresh_token is not None
    assert for_user.token.subject == "alice" and for_user.token.scopes == {"polls:vote"}
    assert for_user.token.expires_in(for_user.token.issued_at) == 600
    for_client = await issue_token(store, "web", lifetime=60)
    assert for_client.refresh_token is None
    assert for_client.token.subject_type == "client" and for_client.token.user is None
    assert await store.resolve(for_client.access_token) == for_client.token
    with pytest.raises(UnknownClient):
        await issue_token(store, "nope")


async def test_remove_client_revokes_its_tokens(store: TokenStore) -> None:
    await register_client(store, "Web", "web", "https://a.example/cb", scopes_list=["a:b"])
    issued = await issue_token(store, "web", user="alice")
    assert await remove_client(store, "web")
    assert await store.get_client("web") is None
    assert await store.resolve(issued.access_token) is None
    assert not await redis_of(store).exists(
        store.keys.access(issued.token.grant_id, digest(issued.access_token)))


def test_scope_titles_are_readable() -> None:
    assert scope_title("polls:results") == "Polls Results"
    assert scope_title("my_polls:my_stats") == "My Polls My Stats"
