"""``ensure_client``: create or update a client to match its arguments, at every start, at once."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import pytest

from oauth_middleware.security import verify_client_secret
from oauth_middleware.settings_checks import ConfigurationError
from oauth_middleware.store import TokenStore
from oauth_middleware.toolbox import (
    ClientExists,
    EnsuredClient,
    RegisteredClient,
    ensure_client,
    issue_token,
    register_client,
    remove_client,
    rotate_secret,
)
from tests.conftest import FakeClock
from tests.redis_process import RedisProcess
from tests.servers import UvicornProcess
from tests.startup_apps import OUTCOMES
from tests.store_helpers import gateway, redis_of

SECRET = "service-secret-0123456789"
#: How many calls race in the concurrency tests.
RACERS = 50


def _service(**changes: Any) -> dict[str, Any]:
    return {"public": False, "grant_types": ["client_credentials"], "client_secret": SECRET,
            "scopes_list": ["items:read", "items:write"], "token_lifetime": 600, **changes}


async def test_a_missing_client_is_created_matching_every_argument(store: TokenStore,
                                                                   clock: FakeClock) -> None:
    done = await ensure_client(store, "svc", "Service", **_service(
        description="Backend job", link="https://svc.example", registrant="ops"))
    assert done.outcome == "created" and done.client_secret is None
    stored = await store.get_client("svc")
    assert stored == done.client
    assert stored is not None
    assert (stored.title, stored.public, stored.grant_types, stored.scopes) == (
        "Service", False, ("client_credentials",), ("items:read", "items:write"))
    assert (stored.token_lifetime, stored.description, stored.link, stored.registrant) == (
        600, "Backend job", "https://svc.example", "ops")
    assert stored.created_at == clock.now and stored.generation
    assert verify_client_secret(stored.secret_hash, SECRET)
    assert {s.identifier for s in await store.list_scopes()} == {"items:read", "items:write"}


async def test_calling_it_again_with_the_same_arguments_changes_nothing(store: TokenStore,
                                                                       clock: FakeClock) -> None:
    first = await ensure_client(store, "svc", "Service", **_service())
    clock.advance(60)
    again = await ensure_client(store, "svc", "Service", **_service())
    assert again == EnsuredClient(first.client, "unchanged")
    assert await store.get_client("svc") == first.client  # same secret hash: not rotated


async def test_changed_arguments_update_the_client_and_its_tokens_stay_valid(
    store: TokenStore, clock: FakeClock,
) -> None:
    first = await ensure_client(store, "svc", "Service", **_service())
    token = await issue_token(store, "svc", scopes=["items:read"])
    clock.advance(60)
    updated = await ensure_client(store, "svc", "Service v2", **_service(
        scopes_list=["items:read"], token_lifetime=None, redirect_uris=["https://svc.example/cb"],
        grant_types=["client_credentials", "authorization_code"]))
    assert updated.outcome == "updated" and updated.client_secret is None
    stored = await store.get_client("svc")
    assert stored == updated.client
    assert stored is not None
    assert (stored.title, stored.scopes, stored.token_lifetime, stored.redirect_uris) == (
        "Service v2", ("items:read",), None, ("https://svc.example/cb",))
    assert stored.grant_types == ("client_credentials", "authorization_code")
    assert (stored.generation, stored.created_at, stored.secret_hash) == (
        first.client.generation, first.client.created_at, first.client.secret_hash)
    resolved = await store.resolve(token.access_token)
    assert resolved is not None and resolved.client_id == "svc"


async def test_a_new_secret_given_replaces_the_stored_one(store: TokenStore) -> None:
    await ensure_client(store, "svc", "Service", **_service())
    done = await ensure_client(store, "svc", "Service", **_service(client_secret="new-" + SECRET))
    assert done.outcome == "updated" and done.client_secret is None
    stored = await store.get_client("svc")
    assert stored is not None
    assert verify_client_secret(stored.secret_hash, "new-" + SECRET)
    assert not verify_client_secret(stored.secret_hash, SECRET)


async def test_without_a_secret_a_new_client_gets_one_once_and_keeps_it(store: TokenStore) -> None:
    created = await ensure_client(store, "svc", "Service", **_service(client_secret=None))
    assert created.outcome == "created" and created.client_secret is not None
    again = await ensure_client(store, "svc", "Service", **_service(client_secret=None))
    assert again.outcome == "unchanged" and again.client_secret is None
    stored = await store.get_client("svc")
    assert stored is not None and verify_client_secret(stored.secret_hash, created.client_secret)


async def test_a_public_client_made_confidential_without_a_secret_gets_one(
    store: TokenStore,
) -> None:
    await ensure_client(store, "app", "App", redirect_uris="https://app.example/cb")
    done = await ensure_client(store, "app", "App", redirect_uris="https://app.example/cb",
                               public=False)
    assert done.outcome == "updated" and done.client_secret is not None
    stored = await store.get_client("app")
    assert stored is not None and verify_client_secret(stored.secret_hash, done.client_secret)
    public_again = await ensure_client(store, "app", "App",
                                       redirect_uris="https://app.example/cb")
    assert public_again.outcome == "updated" and public_again.client.secret_hash is None


async def test_a_client_registered_by_register_client_is_taken_over(store: TokenStore) -> None:
    registered = await register_client(store, "Old title", "svc", public=False,
                                       grant_types=["client_credentials"], client_secret=SECRET)
    done = await ensure_client(store, "svc", "Service", **_service())
    assert done.outcome == "updated"
    assert done.client.secret_hash == registered.client.secret_hash
    assert done.client.generation == registered.client.generation


async def test_leftover_tokens_of_a_removed_client_are_not_inherited(store: TokenStore) -> None:
    await ensure_client(store, "svc", "Service", **_service())
    old = await issue_token(store, "svc", scopes=["items:read"])
    await store.delete_client("svc")  # a removal interrupted before its sweep
    done = await ensure_client(store, "svc", "Service", **_service())
    assert done.outcome == "created"
    assert await store.resolve(old.access_token) is None
    assert not await store.client_indexed("svc")


@pytest.mark.parametrize("provision", ["ensure_client", "register_client"])
@pytest.mark.rule("revoke.client-leftovers-only")
async def test_the_leftover_sweep_never_revokes_a_token_of_the_client_created_meanwhile(
    store: TokenStore, monkeypatch: pytest.MonkeyPatch, provision: str,
) -> None:
    """Two workers find what an interrupted removal left. The second sweeps, creates the
    client and a token is issued to it, all between the first's check (no record) and its
    sweep: that sweep must take the leftovers only, never the new client's token."""
    await ensure_client(store, "svc", "Service", **_service())
    old = await issue_token(store, "svc", scopes=["items:read"])
    await store.delete_client("svc")  # a removal interrupted before its sweep
    redis = gateway(store)
    run, scans, new = redis.run, list[Any](), list[Any]()

    async def other_worker_first(commands: Any, *scripts: Any, **options: Any) -> Any:
        """The other worker runs as the first worker's sweep starts reading the index."""
        if commands[0][0] == "ZSCAN":
            scans.append(commands)
            if len(scans) == 1:
                await ensure_client(store, "svc", "Service", **_service())
                new.append(await issue_token(store, "svc", scopes=["items:read"]))
        return await run(commands, *scripts, **options)

    monkeypatch.setattr(redis, "run", other_worker_first)
    if provision == "ensure_client":
        assert (await ensure_client(store, "svc", "Service", **_service())).outcome == "unchanged"
    else:
        with pytest.raises(ClientExists):
            await register_client(store, "Service", "svc", public=False,
                                  grant_types=["client_credentials"])
    assert await store.resolve(old.access_token) is None
    token = await store.resolve(new[0].access_token)
    assert token is not None and token.client_id == "svc"
    assert await redis_of(store).zcard(store.keys.client_index("svc")) == 1


@pytest.mark.parametrize(("options", "message"), [
    ({"public": True, "client_secret": SECRET, "grant_types": None},
     "client_secret is only for confidential clients"),
    ({"client_secret": "short"}, "client_secret is only for confidential clients"),
    ({"grant_types": ["implicit"]}, "a confidential client cannot use the implicit grant"),
    ({"redirect_uris": ["http://evil.example/cb"]}, "http"),
    ({"token_lifetime": 0}, "token_lifetime"),
])
async def test_arguments_register_client_refuses_are_refused_and_nothing_is_stored(
    store: TokenStore, options: dict[str, Any], message: str,
) -> None:
    with pytest.raises(ValueError, match=message):
        await ensure_client(store, "svc", "Service", **_service(**options))
    assert await store.get_client("svc") is None
    assert await store.list_scopes() == []


@pytest.mark.parametrize("provision", ["ensure_client", "register_client"])
@pytest.mark.parametrize(("option", "message"), [
    ("redirect_uris", "a client has at most 100 redirect URIs (101 given)"),
    ("scopes_list", "a client lists at most 200 scopes (201 given)"),
])
@pytest.mark.rule("abuse.bounded.client-lists")
async def test_a_huge_list_is_refused_and_nothing_is_stored(
    store: TokenStore, provision: str, option: str, message: str,
) -> None:
    """Every authorization and token request reads the whole client record."""
    many: Any = ([f"https://a.example/cb{i}" for i in range(101)] if option == "redirect_uris"
                 else [f"items:s{i}" for i in range(201)])
    options: dict[str, Any] = {option: many}
    call = (ensure_client(store, "web", "Web", **options) if provision == "ensure_client"
            else register_client(store, "Web", "web", **{
                "redirect_uri" if option == "redirect_uris" else option: many}))
    with pytest.raises(ValueError, match=re.escape(message)):
        await call
    assert await store.get_client("web") is None
    assert await store.list_scopes() == []


async def test_a_wrong_option_type_names_the_option(store: TokenStore) -> None:
    with pytest.raises(ConfigurationError) as refused:
        await ensure_client(store, "svc", "Service", **_service(grant_types="client_credentials"))
    assert str(refused.value) == (
        "ensure_client: grant_types='client_credentials' (str) is wrong: that is one string, "
        "not a list: pass ['client_credentials'], or None for the default grants")
    assert await store.get_client("svc") is None


async def test_fifty_concurrent_first_starts_create_one_client_with_the_given_secret(
    store: TokenStore,
) -> None:
    done = await asyncio.gather(*(ensure_client(store, "svc", "Service", **_service())
                                  for _ in range(RACERS)))
    assert sorted(d.outcome for d in done).count("created") == 1
    assert {d.outcome for d in done} == {"created", "unchanged"}
    assert all(d.client_secret is None for d in done)
    stored = await store.get_client("svc")
    assert stored is not None and all(d.client == stored for d in done)
    assert verify_client_secret(stored.secret_hash, SECRET)
    assert await redis_of(store).smembers(store.keys.clients) == {b"svc"}


async def test_fifty_concurrent_first_starts_without_a_secret_hand_out_exactly_one(
    store: TokenStore,
) -> None:
    done = await asyncio.gather(*(ensure_client(store, "svc", "Service",
                                                **_service(client_secret=None))
                                  for _ in range(RACERS)))
    secrets = [d.client_secret for d in done if d.client_secret is not None]
    assert len(secrets) == 1
    assert [d.outcome for d in done].count("created") == 1
    stored = await store.get_client("svc")
    assert stored is not None and verify_client_secret(stored.secret_hash, secrets[0])


async def test_fifty_concurrent_updates_keep_the_generation_and_the_secret(
    store: TokenStore,
) -> None:
    first = await ensure_client(store, "svc", "Service", **_service())
    changed = _service(scopes_list=["items:read"], description="v2")
    done = await asyncio.gather(*(ensure_client(store, "svc", "Service", **changed)
                                  for _ in range(RACERS)))
    assert {d.outcome for d in done} <= {"updated", "unchanged"} and done[0].outcome == "updated"
    stored = await store.get_client("svc")
    assert stored is not None
    assert (stored.scopes, stored.description) == (("items:read",), "v2")
    assert (stored.generation, stored.secret_hash) == (first.client.generation,
                                                       first.client.secret_hash)


async def test_fifty_concurrent_starts_racing_a_removal_leave_a_whole_client(
    store: TokenStore,
) -> None:
    await ensure_client(store, "svc", "Service", **_service())
    calls = [ensure_client(store, "svc", "Service", **_service(description="v2"))
             for _ in range(RACERS)]
    removed, *done = await asyncio.gather(remove_client(store, "svc"), *calls)
    assert removed is True
    stored = await store.get_client("svc")
    assert stored is not None and stored.description == "v2"
    assert verify_client_secret(stored.secret_hash, SECRET)
    assert any(isinstance(d, EnsuredClient) and d.client == stored for d in done)


@pytest.mark.rule("rest.client-edit-over-read")
async def test_a_secret_rotated_while_ensure_client_updates_is_never_rolled_back(
    store: TokenStore, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An operator rotates a leaked secret (``rotate_secret``: "the old one stops working at
    once") while a worker starts with a changed description and no secret: the worker's
    write, built on the record it read before the rotation, must not restore the old hash."""
    first = await ensure_client(store, "svc", "Service", **_service(client_secret=None))
    leaked = first.client_secret
    assert leaked is not None
    save, writes, rotated = store.save_client, list[Any](), list[RegisteredClient]()

    async def rotate_first(client: Any, **options: Any) -> bool:
        """The rotation lands between the caller's read and its (first) write."""
        writes.append(client)
        if len(writes) == 1:
            rotated.append(await rotate_secret(store, "svc"))
        return await save(client, **options)

    monkeypatch.setattr(store, "save_client", rotate_first)
    done = await ensure_client(store, "svc", "Service",
                               **_service(client_secret=None, description="v2"))
    new_secret = rotated[0].client_secret
    assert new_secret is not None
    stored = await store.get_client("svc")
    assert stored is not None and done.client == stored
    assert (done.outcome, stored.description) == ("updated", "v2")
    assert verify_client_secret(stored.secret_hash, new_secret)
    assert not verify_client_secret(stored.secret_hash, leaked)


async def test_fifty_concurrent_starts_with_different_arguments_leave_one_requested_state(
    store: TokenStore,
) -> None:
    """Every field of the end state comes from one call: never a mix of two calls' arguments."""
    await ensure_client(store, "svc", "Service", **_service())
    wanted = [_service(description=f"v{i}", token_lifetime=600 + i,
                       scopes_list=["items:read"] if i % 2 else ["items:write"],
                       client_secret=f"{SECRET}-{i}" if i % 3 else None)
              for i in range(RACERS)]
    done = await asyncio.gather(*(ensure_client(store, "svc", "Service", **w) for w in wanted))
    stored = await store.get_client("svc")
    assert stored is not None
    i = int(stored.description[1:])
    assert (stored.token_lifetime, stored.scopes) == (
        600 + i, ("items:read",) if i % 2 else ("items:write",))
    secret = wanted[i]["client_secret"]
    if secret is not None:
        assert verify_client_secret(stored.secret_hash, secret)
    assert done[i].client == stored and done[i].outcome == "updated"


@pytest.mark.real_redis_only
@pytest.mark.rule("rest.no-secret-in-logs")
async def test_two_uvicorn_workers_starting_at_once_create_the_client_once(
    store: TokenStore, redis_server: RedisProcess,
) -> None:
    """Both workers run ensure_client in their lifespan at the same time: one creates,
    the other finds it as wanted; the secret from the environment works, never logged."""
    env = {"REDIS_URL": redis_server.url, "EXAMPLE_CLIENT_SECRET": SECRET}
    with UvicornProcess("tests.startup_apps:provisioned", "--factory", "--workers", "2",
                        env=env) as server:
        outcomes = [await redis_of(store).blpop([OUTCOMES], timeout=30) for _ in range(2)]
        log = server.output()
    assert sorted(value for _, value in filter(None, outcomes)) == [b"created", b"unchanged"]
    stored = await store.get_client("example-service")
    assert stored is not None and verify_client_secret(stored.secret_hash, SECRET)
    assert (stored.public, stored.grant_types, stored.scopes) == (
        False, ("client_credentials",), ("items:read", "items:write"))
    assert await redis_of(store).smembers(store.keys.clients) == {b"example-service"}
    assert SECRET not in log
