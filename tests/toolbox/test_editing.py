"""Toolbox calls the admin added: editing clients, lifetimes as typed, issuing codes, search."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from oauth_middleware.errors import InvalidScope
from oauth_middleware.models import Scope
from oauth_middleware.redirects import InvalidRedirectURI
from oauth_middleware.security import pkce_s256, verify_client_secret
from oauth_middleware.store import TokenStore
from oauth_middleware.toolbox import (
    MAX_LIFETIME,
    ClientExists,
    RegisteredClient,
    UnknownClient,
    add_redirect_uri,
    issue_code,
    issue_token,
    parse_lifetime,
    parse_token_lifetime,
    register_client,
    rotate_secret,
    update_client,
)
from tests.store_helpers import get_code, redis_of

CB = "https://a.example/cb"
CHALLENGE = pkce_s256("v" * 50)


def test_parse_lifetime_reads_seconds_or_never() -> None:
    assert parse_lifetime(" 600 ") == 600
    assert parse_lifetime("Never") is None
    assert parse_lifetime(str(MAX_LIFETIME)) == MAX_LIFETIME
    for bad in ("0", "-5", "1.5", "", "soon", "²", "٣", "1_000", "+5"):
        with pytest.raises(ValueError, match="positive number of seconds"):
            parse_lifetime(bad)


@pytest.mark.parametrize("text", [str(MAX_LIFETIME + 1), "99999999999999999999", "9" * 5000])
def test_typed_lifetimes_past_ten_years_are_refused_in_one_message(text: str) -> None:
    """The CLI's --token-lifetime and both admin forms read lifetimes here."""
    with pytest.raises(ValueError, match="ten years") as client_lifetime:
        parse_lifetime(text)
    assert str(client_lifetime.value) == (
        f"a token lifetime is a positive number of seconds up to {MAX_LIFETIME} (ten years), "
        "or 'never'")
    with pytest.raises(ValueError, match="ten years") as token_lifetime:
        parse_token_lifetime(text)
    assert str(token_lifetime.value) == (
        f"a token lifetime is a positive number of seconds up to {MAX_LIFETIME} (ten years) "
        "(blank: the client's)")


def test_parse_token_lifetime_reads_seconds_or_blank_for_the_clients_own() -> None:
    assert parse_token_lifetime(" 120 ") == 120
    assert parse_token_lifetime("") is None
    for bad in ("0", "-3", "never", "1e3"):
        with pytest.raises(ValueError, match="blank: the client's"):
            parse_token_lifetime(bad)


async def test_a_client_token_lifetime_past_ten_years_is_refused_and_nothing_stored(
    store: TokenStore,
) -> None:
    with pytest.raises(ValueError, match=f"token_lifetime must be .* up to {MAX_LIFETIME}"):
        await register_client(store, "Web", "web", CB, token_lifetime=MAX_LIFETIME + 1)
    assert await store.get_client("web") is None
    registered = await register_client(store, "Web", "web", CB, token_lifetime=MAX_LIFETIME)
    with pytest.raises(ValueError, match="ten years"):
        await update_client(store, "web", token_lifetime=10**20)
    assert await store.get_client("web") == registered.client


async def test_update_client_changes_fields_and_keeps_the_rest(store: TokenStore) -> None:
    await store.save_scope(Scope("polls:vote"))
    await register_client(store, "Web", "web", CB, "alice", token_lifetime=60,
                          description="old", link="https://a.example/")
    updated = await update_client(store, "web", title=" New title ", scopes_list=["polls:vote"],
                                  token_lifetime=None, description="new")
    assert updated.client_secret is None
    stored = await store.get_client("web")
    assert stored == updated.client
    assert (stored.title, stored.scopes, stored.token_lifetime, stored.description) == (
        "New title", ("polls:vote",), None, "new")
    assert (stored.link, stored.redirect_uris, stored.registrant) == (
        "https://a.example/", (CB,), "alice")


async def test_update_client_refuses_what_registration_refuses_and_changes_nothing(
    store: TokenStore,
) -> None:
    registered = await register_client(store, "Web", "web", CB)
    attempts = [
        ({"title": "  "}, ValueError, "needs a title"),
        ({"redirect_uris": [CB, "http://b.example/cb"]}, InvalidRedirectURI, "plain http"),
        ({"scopes_list": ["nope:unknown"]}, ValueError, "unknown scope"),
        ({"grant_types": ["client_credentials"]}, ValueError, "public clients cannot"),
        ({"token_lifetime": 0}, ValueError, "positive number"),
        ({"link": "l" * 2001}, ValueError, "limited to 2000"),
        ({"title": "x" * 201}, ValueError, "limited to 200"),
    ]
    for change, error, message in attempts:
        with pytest.raises(error, match=message):
            await update_client(store, "web", **change)  # type: ignore[arg-type]
    assert await store.get_client("web") == registered.client
    with pytest.raises(UnknownClient):
        await update_client(store, "nope", title="x")


async def test_update_client_keeps_registered_redirect_uris_and_checks_new_ones(
    store: TokenStore,
) -> None:
    await register_client(store, "Web", "web", "http://dev.example/cb", allow_http=True)
    client = (await update_client(store, "web", redirect_uris=[
        "http://dev.example/cb", CB, CB])).client
    assert client.redirect_uris == ("http://dev.example/cb", CB)


async def test_making_a_client_confidential_gives_a_secret_and_public_drops_it(
    store: TokenStore,
) -> None:
    await register_client(store, "Web", "web", CB)
    made = await update_client(store, "web", public=False,
                               grant_types=["authorization_code", "client_credentials"])
    assert made.client_secret is not None and not made.client.public
    assert verify_client_secret(made.client.secret_hash, made.client_secret)
    again = await update_client(store, "web", title="Still confidential")
    assert again.client_secret is None
    assert again.client.secret_hash == made.client.secret_hash
    with pytest.raises(ValueError, match="public clients cannot"):
        await update_client(store, "web", public=True)
    public = await update_client(store, "web", public=True, grant_types=["authorization_code"])
    assert public.client.public and public.client.secret_hash is None


@pytest.mark.rule("rest.client-edit-over-read")
async def test_an_edit_racing_a_secret_rotation_never_restores_the_old_secret(
    store: TokenStore, monkeypatch: pytest.MonkeyPatch,
) -> None:
    registered = await register_client(store, "Service", "svc", public=False,
                                       grant_types=["client_credentials"])
    save, writes, rotated = store.save_client, list[Any](), list[RegisteredClient]()

    async def rotate_first(client: Any, **options: Any) -> bool:
        """The rotation lands between the caller's read and its (first) write."""
        writes.append(client)
        if len(writes) == 1:
            rotated.append(await rotate_secret(store, "svc"))
        return await save(client, **options)

    monkeypatch.setattr(store, "save_client", rotate_first)
    with pytest.raises(UnknownClient, match="changed or removed meanwhile"):
        await update_client(store, "svc", description="edited from the admin")
    stored = await store.get_client("svc")
    assert stored is not None and stored.description == ""
    rotated_secret, old_secret = rotated[0].client_secret, registered.client_secret
    assert rotated_secret is not None and old_secret is not None
    assert verify_client_secret(stored.secret_hash, rotated_secret)
    assert not verify_client_secret(stored.secret_hash, old_secret)


@pytest.mark.rule("rest.client-edit-over-read")
async def test_a_client_with_text_outside_ascii_can_be_edited_again_and_again(
    store: TokenStore,
) -> None:
    """An edit is written only over the record read, compared field by field in Lua: text
    stored as JSON escapes (surrogate pairs included) must compare equal to itself."""
    await register_client(store, "Web 😀 café", "web", description="naïve 😀")
    for n in range(3):
        edited = await update_client(store, "web", description=f"v{n} 😀")
        assert edited.client.description == f"v{n} 😀"
    stored = await store.get_client("web")
    assert stored is not None and (stored.title, stored.description) == ("Web 😀 café", "v2 😀")


async def test_fifty_concurrent_redirect_uri_additions_lose_none_they_reported_added(
    store: TokenStore,
) -> None:
    await register_client(store, "Web", "web", redirect_uri=[CB])
    uris = [f"https://a.example/cb{i}" for i in range(50)]
    done = await asyncio.gather(*(add_redirect_uri(store, "web", uri) for uri in uris),
                                return_exceptions=True)
    added = {uri for uri, result in zip(uris, done, strict=True)
             if not isinstance(result, BaseException)}
    assert added and all(isinstance(r, UnknownClient) for r in done if isinstance(r, BaseException))
    stored = await store.get_client("web")
    assert stored is not None and added <= set(stored.redirect_uris)


@pytest.mark.rule("abuse.bounded.client-lists")
async def test_edits_never_take_a_client_past_its_list_limits(store: TokenStore) -> None:
    uris = [f"https://a.example/cb{i}" for i in range(100)]
    await register_client(store, "Web", "web", redirect_uri=uris)
    with pytest.raises(ValueError, match=r"at most 100 redirect URIs \(101 given\)"):
        await add_redirect_uri(store, "web", "https://a.example/one-more")
    with pytest.raises(ValueError, match=r"at most 100 redirect URIs \(101 given\)"):
        await update_client(store, "web", redirect_uris=[*uris, "https://a.example/one-more"])
    with pytest.raises(ValueError, match=r"at most 200 scopes \(201 given\)"):
        await update_client(store, "web", scopes_list=[f"s:{i}" for i in range(201)])
    stored = await store.get_client("web")
    assert stored is not None and stored.redirect_uris == tuple(uris) and stored.scopes == ()
    assert await store.list_scopes() == []


async def test_register_client_checks_text_lengths(store: TokenStore) -> None:
    with pytest.raises(ValueError, match="limited to 200"):
        await register_client(store, "W" * 201, "web", CB)
    with pytest.raises(ValueError, match="limited to 2000"):
        await register_client(store, "Web", "web", CB, description="d" * 2001)
    assert await store.get_client("web") is None
    await register_client(store, "Web", "web", CB)
    with pytest.raises(ClientExists):
        await register_client(store, "Web", "web", CB)


async def test_issue_code_stores_a_code_bound_to_client_user_uri_and_scopes(
    store: TokenStore,
) -> None:
    await register_client(store, "Web", "web", [CB, "https://a.example/other"],
                          public=False, scopes_list=["polls:vote", "polls:results"])
    issued = await issue_code(store, "web", user="alice", redirect_uri=CB,
                              scopes=["polls:vote"], lifetime=60)
    assert issued.code not in repr(issued)
    record = await get_code(store, issued.code)
    assert record is not None
    assert (record.client_id, record.subject, record.redirect_uri, record.scopes) == (
        "web", "alice", CB, frozenset({"polls:vote"}))
    assert record.redirect_uri_explicit and record.code_challenge is None
    assert record.expires_at - record.issued_at == 60 and issued.expires_in == 60


async def test_issue_code_refuses_bad_requests(store: TokenStore) -> None:
    await register_client(store, "Pub", "pub", CB, scopes_list=["polls:vote"])
    await register_client(store, "Svc", "svc", CB, public=False, scopes_list=["polls:vote"],
                          grant_types=["client_credentials"])
    with pytest.raises(ValueError, match="not a redirect URI"):
        await issue_code(store, "pub", user="alice", redirect_uri=CB + "/x",
                         code_challenge=CHALLENGE)
    with pytest.raises(ValueError, match="PKCE"):
        await issue_code(store, "pub", user="alice", redirect_uri=CB)
    with pytest.raises(ValueError, match="43 characters"):
        await issue_code(store, "pub", user="alice", redirect_uri=CB, code_challenge="short")
    with pytest.raises(ValueError, match="authorization_code"):
        await issue_code(store, "svc", user="alice", redirect_uri=CB)
    with pytest.raises(InvalidScope):
        await issue_code(store, "pub", user="alice", redirect_uri=CB, scopes=["other"],
                         code_challenge=CHALLENGE)
    with pytest.raises(ValueError, match="user id"):
        await issue_code(store, "pub", user=" ", redirect_uri=CB, code_challenge=CHALLENGE)
    assert await redis_of(store).keys(f"{store.keys.prefix}code:*") == []
    issued = await issue_code(store, "pub", user="alice", redirect_uri=CB,
                              code_challenge=CHALLENGE)
    record = await get_code(store, issued.code)
    assert record is not None
    assert (record.code_challenge, record.code_challenge_method) == (CHALLENGE, "S256")


async def test_issue_token_refuses_an_empty_user(store: TokenStore) -> None:
    await register_client(store, "Web", "web", CB, scopes_list=["polls:vote"])
    with pytest.raises(ValueError, match="user id"):
        await issue_token(store, "web", user="")


async def test_list_clients_search_matches_id_or_title_and_pages_by_cursor(
    store: TokenStore,
) -> None:
    for n in range(300):
        await register_client(store, f"Client {n:03d}" + (" Mobile" if n % 3 == 0 else ""),
                              f"c-{n:03d}", CB)
    found: list[str] = []
    cursor, calls = 0, 0
    while True:
        cursor, page = await store.list_clients(cursor, 20, search="mOBILE")
        found += [c.client_id for c in page]
        calls += 1
        if cursor == 0:
            break
    assert calls > 1
    assert sorted(set(found)) == [f"c-{n:03d}" for n in range(0, 300, 3)]
    _, by_id = await store.list_clients(0, 1000, search="c-017")
    assert [c.client_id for c in by_id] == ["c-017"]
