"""Admin listings at scale: 5,000 clients and 5,000 tokens, each page a bounded number of commands.

The cost of a page is counted in Redis commands at the connection, where every
command is packed once, pipelined or not (``Counting`` in tests/test_batch.py
wraps ``execute_command``, which pipelines bypass, and the listings pipeline
their reads). A page walks the SCAN-family cursor a bounded number of steps
(``paging.MAX_STEPS``) and reads the rows it shows, so its cost follows the
page size and never the number of clients or tokens stored.
"""

from __future__ import annotations

import asyncio
import html
import re
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager

import fakeredis
import pytest

from oauth_middleware.admin.paging import MAX_STEPS
from oauth_middleware.models import Client
from oauth_middleware.security import new_grant_id
from oauth_middleware.store import NewTokens, TokenStore
from tests.admin.harness import Admin, build_host
from tests.sent import commands_sent
from tests.store_helpers import mint, over, redis_of

CLIENTS = 5000
TOKENS = 5000
#: Tokens go to the first ``BUSY`` clients, for ``USERS`` users.
BUSY, USERS = 50, 100
PAGE = 50
#: A page of tokens: per cursor step one scan and one read per grant and per token shown.
TOKEN_PAGE_BOUND = 2 * MAX_STEPS + 3 * PAGE + 10


@contextmanager
def counting_commands() -> Iterator[list[str]]:
    """The name of every command sent to Redis meanwhile (:func:`tests.sent.commands_sent`)."""
    names: list[str] = []
    with commands_sent() as sent:
        yield names
        names += [str(command[0]).upper() for command in sent]


async def _seed(store: TokenStore) -> None:
    """Clients through the store's own (coalesced) writes; tokens minted by the store and
    written with its key schema in one pipeline, since 5,000 Lua runs in fakeredis's
    interpreter would take the test's whole budget."""
    await asyncio.gather(*(store.save_client(Client(
        client_id=f"c{n:04d}", title=f"Client {n}", redirect_uris=("https://a.example/cb",)))
        for n in range(CLIENTS)))
    expiry = int((store.clock() + 3600) * 1000)
    async with redis_of(store).pipeline(transaction=False) as pipe:
        for n in range(TOKENS):
            grant_id = new_grant_id()
            spec = NewTokens(client_id=f"c{n % BUSY:04d}", subject=f"u{n % USERS}",
                             scopes=frozenset({"polls:vote"}))
            _, members = mint(store, grant_id, spec)
            for key, value, ttl in members:
                pipe.set(key, value, px=ttl)
                pipe.sadd(store.keys.members(grant_id), key)
            pipe.zadd(store.keys.client_index(spec.client_id), {grant_id: expiry})
            pipe.zadd(store.keys.user_index(spec.subject), {grant_id: expiry})
        await pipe.execute()


def _store(server: fakeredis.FakeServer) -> TokenStore:
    return over(fakeredis.FakeAsyncRedis(server=server))


async def _seeded_server() -> fakeredis.FakeServer:
    server = fakeredis.FakeServer()
    store = _store(server)
    await _seed(store)
    await store.aclose()
    return server


@pytest.fixture(scope="module")
def seeded() -> fakeredis.FakeServer:
    """One fakeredis server for the module, seeded once (most of the cost); each test
    opens its own store on it, in its own event loop."""
    return asyncio.run(_seeded_server())


@pytest.fixture
async def store(seeded: fakeredis.FakeServer) -> AsyncIterator[TokenStore]:
    opened = _store(seeded)
    yield opened
    await opened.aclose()


@pytest.fixture
async def admin(store: TokenStore) -> AsyncIterator[Admin]:
    async with Admin(build_host(store, page_size=PAGE)) as client:
        yield client


async def _cost(admin: Admin, path: str, **params: str) -> tuple[int, str]:
    """Commands one render of ``path`` sends (after one render that opened the connection)."""
    assert (await admin.get(path, **params)).status_code == 200
    with counting_commands() as sent:
        page = await admin.get(path, **params)
    assert page.status_code == 200, page.text
    return len(sent), page.text


def _next(text: str) -> dict[str, str]:
    found = re.search(r'href="[^"?]*\?([^"]+)" id="next-page"', text)
    assert found is not None, "a first page of thousands has a next page"
    return dict(pair.split("=", 1) for pair in html.unescape(found.group(1)).split("&"))


def _fingerprints(text: str) -> set[str]:
    return set(re.findall(r'<code class="fingerprint">([0-9a-f]+)</code>', text))


async def test_the_pages_below_are_judged_among_thousands(store: TokenStore) -> None:
    """The premise of every test here (the seeding's speed is not a behaviour; no timing)."""
    assert await redis_of(store).scard(store.keys.clients) == CLIENTS
    assert len([k async for k in redis_of(store).scan_iter(match=store.keys.access_pattern,
                                                       count=1000)]) == TOKENS


async def test_client_list_pages_cost_the_same_few_commands_among_thousands(
    admin: Admin
) -> None:
    first, text = await _cost(admin, "/admin/clients/")
    assert len(re.findall(r'href="/admin/clients/(c\d{4})/"', text)) >= PAGE
    second, text = await _cost(admin, "/admin/clients/", **_next(text))
    assert len(re.findall(r'href="/admin/clients/(c\d{4})/"', text)) >= PAGE
    # One SSCAN and one GET per client shown, per cursor step.
    assert first <= MAX_STEPS + 2 * PAGE and second <= MAX_STEPS + 2 * PAGE
    search, _ = await _cost(admin, "/admin/clients/", q="Client 4321")
    assert search <= MAX_STEPS * (1 + PAGE) + 2  # a search reads at most MAX_STEPS pages


async def test_token_list_pages_cost_the_same_few_commands_among_thousands(
    admin: Admin
) -> None:
    first, text = await _cost(admin, "/admin/tokens/")
    assert len(_fingerprints(text)) >= PAGE
    second, text = await _cost(admin, "/admin/tokens/", **_next(text))
    assert len(_fingerprints(text)) >= PAGE
    by_user, text = await _cost(admin, "/admin/tokens/", user="u7")
    assert len(_fingerprints(text)) == TOKENS // USERS
    by_client, text = await _cost(admin, "/admin/tokens/", client_id="c0007")
    assert len(_fingerprints(text)) >= PAGE
    client_page, text = await _cost(admin, "/admin/clients/c0007/")
    assert len(_fingerprints(text)) >= PAGE
    for cost in (first, second, by_user, by_client, client_page):
        assert cost <= TOKEN_PAGE_BOUND, (first, second, by_user, by_client, client_page)
