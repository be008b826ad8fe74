"""Client metadata documents behind real uvicorn (two workers) and a real redis-server:
the document is fetched over the network once and shared by both workers through the
store."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from oauth_middleware.models import Scope
from oauth_middleware.security import pkce_s256
from oauth_middleware.store import TokenStore
from tests.ca import TestAuthority
from tests.document_server import NAMES, DocumentServer
from tests.redis_process import RedisProcess, free_port
from tests.server.authorize_harness import USER_HEADER, read_page
from tests.servers import UvicornProcess

pytestmark = pytest.mark.real_redis_only
#: Upper bound on requests spent reaching both workers.
MAX_REQUESTS = 500


@pytest.fixture(scope="module")
def authority(tmp_path_factory: pytest.TempPathFactory) -> TestAuthority:
    return TestAuthority.create(Path(tmp_path_factory.mktemp("ca")), names=NAMES)


@pytest.fixture(scope="module")
def server(redis_server: RedisProcess, authority: TestAuthority) -> Iterator[UvicornProcess]:
    port = free_port()
    env = {"REDIS_URL": redis_server.url, "OM_ISSUER": f"http://127.0.0.1:{port}/oauth",
           "OM_DOC_CA": str(authority.ca_file)}
    with UvicornProcess("tests.server.document_client_app:build", "--factory",
                        "--workers", "2", "--log-level", "warning", env=env,
                        port=port) as running:
        yield running


@pytest.fixture
async def docs(authority: TestAuthority) -> AsyncIterator[DocumentServer]:
    started = await DocumentServer(authority).start()
    yield started
    await started.close()


@pytest.mark.rule("documents.cache")
async def test_both_workers_use_the_document_one_of_them_fetched(
        server: UvicornProcess, store: TokenStore, docs: DocumentServer) -> None:
    await store.save_scope(Scope("polls:read", "Read your polls"))
    url = docs.document("/client.json", client_name="Networked client")
    params = {"client_id": url, "response_type": "code", "redirect_uri": "https://client.test/cb",
              "scope": "polls:read", "code_challenge": pkce_s256("v" * 43),
              "code_challenge_method": "S256"}
    answered: dict[str, list[httpx.Response]] = {}
    for _ in range(MAX_REQUESTS):  # a new connection each: the kernel picks the worker
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
            page = await http.get("/oauth/auth/", params=params, headers={USER_HEADER: "alice"})
        answered.setdefault(page.headers["x-worker-pid"], []).append(page)
        if len(answered) == 2:
            break
    assert len(answered) == 2, "the second worker never answered"
    for page in (p for pages in answered.values() for p in pages):
        assert page.status_code == 200, page.text
        text = read_page(page.text).text
        assert f"Unverified application from client.test:{docs.port}:" in text
        assert "Networked client" in text
    assert docs.fetches("/client.json") == 1
    assert docs.sni == ["client.test"]
    client = await store.get_client(url)
    assert client is not None and client.title == "Networked client"
