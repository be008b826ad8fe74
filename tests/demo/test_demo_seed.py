"""Seeding is idempotent (issue 9: "Seeded at start, idempotently"): the demo seeds on every
start, so seeding the same store again must change nothing but what follows the base URL."""

from __future__ import annotations

from dataclasses import replace

from demo.app import create_app
from demo.seed import SPA_CLIENT, WEB_CLIENT, seed
from oauth_middleware.models import Client
from oauth_middleware.security import verify_client_secret
from oauth_middleware.store import TokenStore

BASE = "http://127.0.0.1:8000"
SECRET = "a-demo-web-secret-for-the-seed-test-0123456789"


async def _clients(store: TokenStore) -> dict[str, Client]:
    found = {cid: await store.get_client(cid) for cid in (WEB_CLIENT, SPA_CLIENT)}
    clients = {cid: client for cid, client in found.items() if client is not None}
    assert set(clients) == {WEB_CLIENT, SPA_CLIENT}
    return clients


def _comparable(client: Client) -> Client:
    """A client without what re-registering renews: the secret's salted hash, the time."""
    return replace(client, secret_hash=None, created_at=0.0)


async def test_seeding_the_same_store_twice_keeps_clients_scopes_and_the_given_secret(
    store: TokenStore,
) -> None:
    app = create_app(base_url=BASE, store=store)
    assert await seed(store, app, base_url=BASE, web_secret=SECRET) == SECRET
    first_clients, first_scopes = await _clients(store), await store.list_scopes()
    assert await seed(store, app, base_url=BASE, web_secret=SECRET) == SECRET
    again = await _clients(store)
    assert {cid: _comparable(c) for cid, c in again.items()} == {
        cid: _comparable(c) for cid, c in first_clients.items()}
    assert await store.list_scopes() == first_scopes
    assert sorted(s.identifier for s in first_scopes) == [
        "email", "my_polls:my_stats", "openid", "phone", "polls:results", "polls:vote",
        "profile"]
    assert {s.identifier: s.title for s in first_scopes}["openid"] == (
        "Sign you in with your demo account")
    assert verify_client_secret(again[WEB_CLIENT].secret_hash, SECRET)
    assert again[WEB_CLIENT].redirect_uris == (f"{BASE}/client/callback", f"{BASE}/client/code",
                                               f"{BASE}/client/oidc/callback")
    assert again[WEB_CLIENT].post_logout_redirect_uris == (f"{BASE}/client/oidc/signed-out",)
    assert again[SPA_CLIENT].redirect_uris == (f"{BASE}/client/spa",)
    assert again[SPA_CLIENT].public and again[WEB_CLIENT].confidential


async def test_seeding_again_at_another_address_moves_the_redirect_uris(
    store: TokenStore,
) -> None:
    await seed(store, create_app(base_url=BASE, store=store), base_url=BASE, web_secret=SECRET)
    moved = "http://127.0.0.1:9123"
    await seed(store, create_app(base_url=moved, store=store), base_url=moved,
               web_secret=SECRET)
    clients = await _clients(store)
    assert clients[WEB_CLIENT].redirect_uris == (f"{moved}/client/callback",
                                                 f"{moved}/client/code",
                                                 f"{moved}/client/oidc/callback")
    assert clients[WEB_CLIENT].post_logout_redirect_uris == (
        f"{moved}/client/oidc/signed-out",)
    assert clients[WEB_CLIENT].link == f"{moved}/client/"
    assert clients[SPA_CLIENT].redirect_uris == (f"{moved}/client/spa",)


async def test_without_a_given_secret_each_seeding_generates_one_and_stores_only_its_hash(
    store: TokenStore,
) -> None:
    app = create_app(base_url=BASE, store=store)
    first = await seed(store, app, base_url=BASE, web_secret=None)
    second = await seed(store, app, base_url=BASE, web_secret=None)
    fresh = first != second
    assert fresh
    stored = (await _clients(store))[WEB_CLIENT].secret_hash
    current, stale = verify_client_secret(stored, second), verify_client_secret(stored, first)
    assert current and not stale
