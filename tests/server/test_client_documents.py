"""Clients known by their Client ID Metadata Document, at auth/ and token/ (CIMD draft).

The documents are served by a real HTTPS server on loopback (tests/document_server.py);
the policy of each test reaches it only (its names, its CA, 127.0.0.1/32 allowed).
"""

from __future__ import annotations

import asyncio
import email.utils
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from oauth_middleware import TokenStore, register_client
from oauth_middleware.security import pkce_s256
from oauth_middleware.server import ClientMetadataPolicy, client_documents
from oauth_middleware.server.client_documents import check_url, is_client_id_url
from tests.ca import TestAuthority
from tests.document_server import NAMES, DocumentServer, Reply
from tests.server.authorize_harness import (
    Harness,
    answer,
    assert_page,
    open_harness,
)
from tests.store_helpers import redis_of

CALLBACK = "https://client.test/cb"
VERIFIER = "document-client-verifier-0123456789-abcdefghijklmnop"
CHALLENGE = pkce_s256(VERIFIER)
REFUSED = "The client's metadata document cannot be used"


@pytest.fixture(scope="module")
def authority(tmp_path_factory: pytest.TempPathFactory) -> TestAuthority:
    return TestAuthority.create(Path(tmp_path_factory.mktemp("ca")), names=NAMES)


@pytest.fixture
async def docs(authority: TestAuthority) -> AsyncIterator[DocumentServer]:
    started = await DocumentServer(authority).start()
    yield started
    await started.close()


def auth_params(client_id: str, **extra: str) -> dict[str, str]:
    return {"client_id": client_id, "response_type": "code", "redirect_uri": CALLBACK,
            "scope": "polls:read", "state": "st-1", "code_challenge": CHALLENGE,
            "code_challenge_method": "S256", **extra}


def harness(store: TokenStore, docs: DocumentServer, **policy: Any) -> Any:
    return open_harness(store, client_metadata_documents=docs.policy(**policy))


async def sign_in(h: Harness, client_id: str) -> dict[str, Any]:
    """Consent, code, token with PKCE: the token response."""
    page = assert_page(await h.authorize(**auth_params(client_id)), 200)
    base, _, params = answer(await h.decide(page))
    assert (base, params["state"]) == (CALLBACK, "st-1")
    token = await h.http.post("/oauth/token/", data={
        "grant_type": "authorization_code", "code": params["code"], "redirect_uri": CALLBACK,
        "client_id": client_id, "code_verifier": VERIFIER})
    assert token.status_code == 200, token.text
    return dict(token.json())


async def state_ttl(store: TokenStore, url: str) -> tuple[str | None, int]:
    redis = redis_of(store)
    key = store.keys.document(url)
    raw = await redis.get(key)
    text = raw.decode() if isinstance(raw, bytes) else raw
    return text, int(await redis.pttl(key))


async def expire(store: TokenStore, url: str) -> None:
    """What Redis does when the document's cache lifetime ends."""
    await redis_of(store).delete(store.keys.document(url))


@pytest.mark.rule("documents.opt-in")
async def test_metadata_advertises_document_support_only_when_enabled(
        store: TokenStore, docs: DocumentServer) -> None:
    async with open_harness(store) as plain, open_harness(
            store, seeded=False, client_metadata_documents=docs.policy()) as cimd:
        off = (await plain.http.get("/oauth/.well-known/oauth-authorization-server")).json()
        on = (await cimd.http.get("/oauth/.well-known/oauth-authorization-server")).json()
    assert "client_id_metadata_document_supported" not in off
    assert on["client_id_metadata_document_supported"] is True
    # MCP clients use a document only where "none" is an auth method too.
    assert "none" in on["token_endpoint_auth_methods_supported"]


@pytest.mark.rule("documents.opt-in")
async def test_without_the_policy_a_url_client_id_is_unknown_and_nothing_is_fetched(
        store: TokenStore, docs: DocumentServer) -> None:
    url = docs.document("/client.json")
    async with open_harness(store) as h:
        page = assert_page(await h.authorize(**auth_params(url)), 400)
        token = await h.http.post("/oauth/token/", data={
            "grant_type": "refresh_token", "refresh_token": "x", "client_id": url})
    assert "The client is unknown." in page.text
    assert (token.status_code, token.json()["error"]) == (401, "invalid_client")
    assert docs.requests == [] and docs.lookups == []


@pytest.mark.rule("documents.validated")
async def test_a_document_client_signs_in_with_code_and_pkce_end_to_end(
        store: TokenStore, docs: DocumentServer) -> None:
    url = docs.document("/client.json", client_name="Doc <b>Client</b>",
                        client_uri="https://client.test/about")
    async with harness(store, docs) as h:
        response = await h.authorize(**auth_params(url))
        page = assert_page(response, 200)
        assert f"Unverified application from client.test:{docs.port}:" in page.text
        assert "Doc <b>Client</b>" in page.text and "<b>Client</b>" not in response.text
        assert url in page.text
        body = await sign_in(h, url)
    assert body["token_type"] == "Bearer" and body["scope"] == "polls:read"
    assert isinstance(body["expires_in"], int) and body["refresh_token"]
    client = await store.get_client(url)
    assert client is not None and client.public and client.dynamic
    assert client.redirect_uris == (CALLBACK,) and client.title == "Doc <b>Client</b>"
    assert docs.fetches("/client.json") == 1  # token/ used the record auth/ fetched
    assert await redis_of(store).sismember(store.keys.document_clients, url)


@pytest.mark.rule("documents.validated")
async def test_a_document_client_is_public_so_pkce_is_required(
        store: TokenStore, docs: DocumentServer) -> None:
    url = docs.document("/client.json")
    params = {k: v for k, v in auth_params(url).items() if not k.startswith("code_")}
    async with harness(store, docs) as h:
        base, where, sent = answer(await h.authorize(**params))
    assert (base, where, sent["error"], sent["state"]) == (
        CALLBACK, "query", "invalid_request", "st-1")


@pytest.mark.rule("documents.client-id-url")
@pytest.mark.parametrize("variant", [
    "HTTPS://client.test:{port}/client.json", "https://CLIENT.test:{port}/client.json",
    "https://client.test:443/client.json", "https://client.test.:{port}/client.json",
    "https://client.test:{port}/a/../client.json", "https://client.test:{port}/./client.json",
    "https://client.test:{port}//client.json", "https://client.test:{port}/client.json?v=1",
    "https://client.test:{port}/client.json#f", "https://user@client.test:{port}/client.json",
    "https://client.test:{port}/%63lient.json", "https://client.test:{port}/client%0a.json",
    "https://client.test:{port}/client%2.json", "https://client.test:{port}/client.json\u202e",
    "https://client.test:{port}/client\x01.json", "https://client.test:{port}/c\\x.json",
    "http://client.test:{port}/client.json", "https://client.test:{port}",
    "https://0x7f000001:{port}/client.json", "https://2130706433/client.json",
    "https://client.test:{port}/c{x}.json", "https://client.test:{port}/c d.json",
    "https://client.test:99999/client.json", "https://[::ffff:7f00:1]/client.json",
    "https://client.test:{port}/" + "a" * 300,
])
async def test_a_client_id_url_not_in_canonical_form_is_refused_before_any_fetch(
        store: TokenStore, docs: DocumentServer, variant: str) -> None:
    """One document, one id: case, default port, dots, escapes, queries... are refused,
    so no second spelling of a client's URL makes a second client."""
    docs.document("/client.json")
    client_id = variant.replace("{port}", str(docs.port))
    async with harness(store, docs) as h:
        page = assert_page(await h.authorize(**auth_params(client_id)), 400)
    assert "invalid_request" in page.text  # ours, or the query parser's control-character one
    assert docs.lookups == [] and docs.requests == []
    assert await store.get_client(client_id) is None


@pytest.mark.rule("documents.client-id-url")
@pytest.mark.parametrize("url", [
    "https://app.example/oauth/client.json", "https://app.example:8443/c",
    "https://sub.app-1.example/c/", "https://93.184.216.34/c", "https://[2606:4700::1111]/c",
    "https://[::ffff:93.184.216.34]/c", "https://app.example/a%2Fb/%C3%A9t%C3%A9",
    "https://app.example/~user/app;v=1/c.json", "https://app.example/" + "a" * 230,
])
def test_a_canonical_client_id_url_is_accepted(url: str) -> None:
    assert check_url(url) == url and is_client_id_url(url)


@pytest.mark.rule("documents.ssrf")
@pytest.mark.parametrize("client_id", ["https://[::ffff:127.0.0.1]/client.json",
                                       "https://169.254.169.254/latest/meta-data.json",
                                       "https://10.0.0.1/client.json"])
async def test_a_special_use_address_as_client_id_is_refused_at_auth_and_token(
        store: TokenStore, docs: DocumentServer, client_id: str) -> None:
    async with harness(store, docs, allowed_networks=()) as h:
        page = assert_page(await h.authorize(**auth_params(client_id)), 400)
        token = await h.http.post("/oauth/token/", data={
            "grant_type": "refresh_token", "refresh_token": "x", "client_id": client_id})
    assert f"{REFUSED}: the host is, or resolves to, a special-use (non-public) address." \
        in page.text
    assert (token.status_code, token.json()["error"]) == (401, "invalid_client")
    assert docs.lookups == [] and await store.get_client(client_id) is None


@pytest.mark.rule("documents.client-id-url")
async def test_a_url_can_never_be_the_id_of_a_registered_client(store: TokenStore) -> None:
    with pytest.raises(ValueError, match="client id"):
        await register_client(store, "Impostor", "https://client.test/client.json",
                              CALLBACK, register_unknown_scopes=False)
    assert await store.get_client("https://client.test/client.json") is None


@pytest.mark.rule("documents.validated")
@pytest.mark.parametrize("claimed", [
    "https://client.test:{port}/other.json", "https://client.test:{port}/client.json/",
    "https://Client.test:{port}/client.json", "https://other.test:{port}/client.json", None,
])
async def test_a_document_whose_client_id_is_not_exactly_its_url_is_refused(
        store: TokenStore, docs: DocumentServer, claimed: str | None) -> None:
    url = docs.document("/client.json", client_id=claimed.format(port=docs.port)
                        if claimed else None)
    async with harness(store, docs) as h:
            page = assert_page(await h.authorize(**auth_params(url)), 400)
    assert f"{REFUSED}: the document's client_id is not exactly its URL." in page.text
    assert await store.get_client(url) is None
    if claimed is not None:
        assert await store.get_client(claimed.format(port=docs.port)) is None


@pytest.mark.rule("documents.validated")
async def test_one_url_cannot_fill_the_record_of_another(
        store: TokenStore, docs: DocumentServer) -> None:
    """Cache poisoning: /b.json claiming to be /a.json is refused, and /a.json is still
    resolved from its own document."""
    a = docs.document("/a.json", client_name="Client A")
    b = docs.url("/b.json")
    docs.document("/b.json", client_id=a, client_name="Poisoned")
    async with harness(store, docs) as h:
        assert_page(await h.authorize(**auth_params(b)), 400)
        assert await store.get_client(a) is None and await store.get_client(b) is None
        page = assert_page(await h.authorize(**auth_params(a)), 200)
    assert "Client A" in page.text and "Poisoned" not in page.text
    client = await store.get_client(a)
    assert client is not None and client.title == "Client A"


@pytest.mark.rule("documents.validated")
@pytest.mark.parametrize(("fields", "reason"), [
    ({"token_endpoint_auth_method": "client_secret_basic"}, "must be none here"),
    ({"token_endpoint_auth_method": "private_key_jwt",
      "jwks_uri": "https://client.test/jwks"}, "private_key_jwt is not supported"),
    ({"client_secret": "s3cret-s3cret-s3cret"}, "must not carry a client secret"),
    ({"redirect_uris": ["https://evil.test/cb"]}, "on the client id's own host"),
    ({"redirect_uris": ["http://client.test/cb"]}, "plain http is only allowed for loopback"),
    ({"redirect_uris": ["https://client.test/cb#frag"]}, "fragment"),
    ({"grant_types": ["client_credentials"], "response_types": []}, "grant_types"),
    ({"client_name": "Bad\x1b]0;title\x07"}, "control characters"),
    ({"logo_uri": "javascript:alert(1)"}, "logo_uri must be an https URL"),
])
async def test_a_document_is_validated_as_a_public_clients_registration(
        store: TokenStore, docs: DocumentServer, fields: dict[str, Any], reason: str) -> None:
    url = docs.document("/client.json", **fields)
    async with harness(store, docs) as h:
        page = assert_page(await h.authorize(**auth_params(url)), 400)
    assert REFUSED in page.text and reason in page.text
    assert await store.get_client(url) is None


@pytest.mark.rule("documents.validated")
@pytest.mark.parametrize("body", [b'{"client_id": "a", "client_id": "b"}', b"[1, 2]",
                                  b"\xff\xfe{}", b"{"])
async def test_a_document_that_is_no_single_json_object_is_refused(
        store: TokenStore, docs: DocumentServer, body: bytes) -> None:
    docs.routes["/client.json"] = Reply(body)
    url = docs.url("/client.json")
    async with harness(store, docs) as h:
        page = assert_page(await h.authorize(**auth_params(url)), 400)
    assert REFUSED in page.text and await store.get_client(url) is None


@pytest.mark.rule("documents.validated")
async def test_redirect_uris_on_another_host_are_accepted_only_when_the_policy_says(
        store: TokenStore, docs: DocumentServer) -> None:
    url = docs.document("/client.json", redirect_uris=[CALLBACK, "https://elsewhere.test/cb"])
    params = auth_params(url, redirect_uri="https://elsewhere.test/cb")
    async with harness(store, docs, same_host_redirects=False) as h:
        page = assert_page(await h.authorize(**params), 200)
    assert "elsewhere.test" in page.text


@pytest.mark.rule("documents.validated")
async def test_a_native_apps_loopback_and_private_use_redirects_are_accepted(
        store: TokenStore, docs: DocumentServer) -> None:
    """Same-host applies to https only: a native app's loopback callback (any port,
    RFC 8252 §7.3) and private-use scheme are its own."""
    url = docs.document("/client.json", redirect_uris=["http://127.0.0.1/callback",
                                                       "test.client.app:/callback"])
    async with harness(store, docs) as h:
        loopback = await h.authorize(**auth_params(
            url, redirect_uri="http://127.0.0.1:53123/callback"))
        private = await h.authorize(**auth_params(url, redirect_uri="test.client.app:/callback"))
    assert "127.0.0.1:53123" in assert_page(loopback, 200).text
    assert "test.client.app:" in assert_page(private, 200).text


@pytest.mark.rule("documents.cache")
async def test_a_document_is_used_for_its_max_age_then_fetched_again(
        store: TokenStore, docs: DocumentServer) -> None:
    url = docs.document("/client.json", headers={"cache-control": "public, max-age=120"})
    async with harness(store, docs) as h:
        for _ in range(3):
            assert_page(await h.authorize(**auth_params(url)), 200)
        assert docs.fetches("/client.json") == 1
        state, ttl = await state_ttl(store, url)
        assert state == "ok" and 110_000 < ttl <= 120_000
        await expire(store, url)
        docs.document("/client.json", client_name="Renamed")
        page = assert_page(await h.authorize(**auth_params(url)), 200)
    assert docs.fetches("/client.json") == 2 and "Renamed" in page.text


@pytest.mark.rule("documents.cache")
@pytest.mark.parametrize(("headers", "expected"), [
    ({"cache-control": "no-store"}, 60), ({"cache-control": "no-cache, max-age=900"}, 60),
    ({"cache-control": "max-age=999999999"}, 86_400), ({}, 3600),
    ({"cache-control": "max-age=600", "age": "100"}, 500),
    ({"cache-control": "max-age=-1"}, 60), ({"cache-control": "max-age=10"}, 60),
    ({"expires": "in 1200 s"}, 1200), ({"expires": "garbage"}, 60),
])
async def test_a_documents_lifetime_follows_http_caching_within_the_policys_bounds(
        store: TokenStore, docs: DocumentServer, headers: dict[str, str], expected: int
) -> None:
    if headers.get("expires") == "in 1200 s":
        headers = {"expires": email.utils.formatdate(store.clock() + 1200, usegmt=True)}
    url = docs.document("/client.json", headers=headers)
    async with harness(store, docs) as h:
        assert_page(await h.authorize(**auth_params(url)), 200)
    _, ttl = await state_ttl(store, url)
    assert expected * 1000 - 3000 < ttl <= expected * 1000


@pytest.mark.rule("documents.cache")
async def test_a_failed_fetch_is_remembered_briefly_then_tried_again(
        store: TokenStore, docs: DocumentServer) -> None:
    url = docs.url("/client.json")
    async with harness(store, docs, failure_ttl=10) as h:
        first = assert_page(await h.authorize(**auth_params(url)), 400)
        assert f"{REFUSED}: the document URL answered HTTP 404, not 200." in first.text
        state, ttl = await state_ttl(store, url)
        assert state == "failed" and 0 < ttl <= 10_000
        again = assert_page(await h.authorize(**auth_params(url)), 400)
        assert f"{REFUSED}: its metadata document failed to load moments ago." in again.text
        assert docs.fetches("/client.json") == 1
        await expire(store, url)
        docs.document("/client.json")
        assert_page(await h.authorize(**auth_params(url)), 200)
    assert docs.fetches("/client.json") == 2


@pytest.mark.rule("documents.cache")
async def test_fifty_requests_at_once_for_one_new_url_fetch_it_once(
        store: TokenStore, docs: DocumentServer) -> None:
    url = docs.document("/client.json")
    async with harness(store, docs) as h:
        answers = await asyncio.gather(*(h.authorize(**auth_params(url)) for _ in range(50)))
    assert [r.status_code for r in answers] == [200] * 50
    assert docs.fetches("/client.json") == 1


@pytest.mark.rule("documents.bounded")
async def test_fetches_are_counted_per_caller_address_before_they_start(
        store: TokenStore, docs: DocumentServer) -> None:
    urls = [docs.document(f"/c{i}.json") for i in range(4)]
    async with harness(store, docs, per_address=3) as h:
        for url in urls[:3]:
            assert_page(await h.authorize(**auth_params(url)), 200)
        fourth = await h.authorize(**auth_params(urls[3]))
        assert "slow_down" in assert_page(fourth, 429).text
        assert int(fourth.headers["retry-after"]) > 0
        assert_page(await h.authorize(**auth_params(urls[0])), 200)  # cached: not counted
    assert docs.fetches("/c3.json") == 0 and await store.get_client(urls[3]) is None


@pytest.mark.rule("documents.bounded")
async def test_a_worker_runs_a_bounded_number_of_fetches_at_once(
        store: TokenStore, docs: DocumentServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """Past the bound a new URL is refused at once (not queued): slow hosts cannot hold
    every executor thread of the worker through their name lookups."""
    monkeypatch.setattr(client_documents, "MAX_FETCHING", 2)
    for i in range(3):
        docs.routes[f"/s{i}.json"] = Reply(b"{", stall=True)
    async with harness(store, docs, timeout=0.5) as h:
        pages = await asyncio.gather(*(h.authorize(**auth_params(docs.url(f"/s{i}.json")))
                                       for i in range(3)))
    texts = sorted(assert_page(page, 400).text for page in pages)
    assert [REFUSED + ": no whole answer within 0.5 s." in t for t in texts].count(True) == 2
    assert [REFUSED + ": too many documents are being fetched; try again shortly." in t
            for t in texts].count(True) == 1
    assert len(docs.requests) == 2


@pytest.mark.rule("documents.bounded")
async def test_document_clients_are_capped_server_wide(
        store: TokenStore, docs: DocumentServer) -> None:
    urls = [docs.document(f"/c{i}.json") for i in range(3)]
    async with harness(store, docs, max_clients=2) as h:
        for url in urls[:2]:
            assert_page(await h.authorize(**auth_params(url)), 200)
        third = assert_page(await h.authorize(**auth_params(urls[2])), 400)
    assert f"{REFUSED}: the server accepts no more clients by metadata document." in third.text
    assert await store.documents.count() == 2 and await store.get_client(urls[2]) is None


@pytest.mark.rule("documents.cache")
async def test_token_endpoint_fetches_a_stale_document_and_refuses_one_that_is_gone(
        store: TokenStore, docs: DocumentServer) -> None:
    url = docs.document("/client.json")
    async with harness(store, docs) as h:
        tokens = await sign_in(h, url)
        await expire(store, url)
        refreshed = await h.http.post("/oauth/token/", data={
            "grant_type": "refresh_token", "refresh_token": tokens["refresh_token"],
            "client_id": url})
        assert refreshed.status_code == 200, refreshed.text
        assert docs.fetches("/client.json") == 2
        await expire(store, url)
        docs.routes.pop("/client.json")
        gone = await h.http.post("/oauth/token/", data={
            "grant_type": "refresh_token", "refresh_token": refreshed.json()["refresh_token"],
            "client_id": url})
    assert gone.status_code == 401
    assert gone.json() == {"error": "invalid_client",
                           "error_description": "The client's metadata document cannot be used."}
    assert gone.headers["www-authenticate"] == 'Basic realm="oauth"'
    assert gone.headers["cache-control"] == "no-store"


@pytest.mark.rule("documents.validated")
async def test_a_document_client_revokes_its_own_refresh_token(
        store: TokenStore, docs: DocumentServer) -> None:
    url = docs.document("/client.json")
    async with harness(store, docs) as h:
        tokens = await sign_in(h, url)
        revoked = await h.http.post("/oauth/revoke/", data={
            "token": tokens["refresh_token"], "client_id": url})
        refresh = await h.http.post("/oauth/token/", data={
            "grant_type": "refresh_token", "refresh_token": tokens["refresh_token"],
            "client_id": url})
    assert (revoked.status_code, revoked.json()) == (200, {})
    assert (refresh.status_code, refresh.json()["error"]) == (400, "invalid_grant")
    assert await store.resolve(tokens["access_token"]) is None


@pytest.mark.rule("documents.validated")
async def test_a_url_client_presenting_a_secret_is_refused_without_a_fetch(
        store: TokenStore, docs: DocumentServer) -> None:
    url = docs.document("/client.json")
    async with harness(store, docs) as h:
        response = await h.http.post("/oauth/token/", data={
            "grant_type": "refresh_token", "refresh_token": "x", "client_id": url,
            "client_secret": "guess-guess-guess"})
    assert (response.status_code, response.json()["error"]) == (401, "invalid_client")
    assert docs.lookups == [] and docs.requests == []


@pytest.mark.rule("documents.validated")
async def test_a_removed_document_client_leaves_the_document_set(
        store: TokenStore, docs: DocumentServer) -> None:
    url = docs.document("/client.json")
    async with harness(store, docs) as h:
        assert_page(await h.authorize(**auth_params(url)), 200)
        assert await store.documents.count() == 1
        await store.delete_client(url)
        assert await store.documents.count() == 0
        assert_page(await h.authorize(**auth_params(url)), 200)
    assert docs.fetches("/client.json") == 2  # fresh state, but no record: fetched again
    assert await store.get_client(url) is not None and await store.documents.count() == 1


def test_the_policy_refuses_bounds_that_make_no_sense() -> None:
    options: list[dict[str, Any]] = [
        {"max_bytes": 10}, {"timeout": 0}, {"min_ttl": 10, "default_ttl": 5},
        {"failure_ttl": -1}, {"max_clients": 0}, {"allowed_networks": ("nope",)}]
    for wrong in options:
        with pytest.raises(ValueError, match="ClientMetadataPolicy"):
            ClientMetadataPolicy(**wrong)

