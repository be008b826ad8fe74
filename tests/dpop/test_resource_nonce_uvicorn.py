"""Resource nonces (RFC 9449 §9) over real HTTP: uvicorn with two workers on a real
redis-server, so the nonce one worker hands out is the one the other accepts."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import pytest

from oauth_middleware.store import TokenStore
from tests.dpop.holder import Holder
from tests.dpop.served import two_workers
from tests.dpop.test_middleware import bound_token
from tests.redis_process import RedisProcess
from tests.servers import UvicornProcess

pytestmark = pytest.mark.real_redis_only

N = 20


@pytest.fixture(scope="module")
def server(redis_server: RedisProcess) -> Iterator[UvicornProcess]:
    with two_workers("tests.dpop.uvicorn_nonce_app:build", redis_server, "/me", 401) as running:
        yield running


@pytest.mark.rule("dpop.resource.nonce", "dpop.resource.required")
async def test_a_resource_nonce_from_either_worker_opens_both(
        server: UvicornProcess, store: TokenStore) -> None:
    holder = Holder()
    token = await bound_token(store, holder)
    me = f"{server.url}/me"

    def headers(nonce: str | None = None) -> dict[str, str]:
        return {"Authorization": f"DPoP {token}",
                "DPoP": holder.proof("GET", me, access_token=token, nonce=nonce)}

    async with httpx.AsyncClient(base_url=server.url, timeout=10) as http:
        asked = await asyncio.gather(*(http.get("/me", headers=headers()) for _ in range(N)))
        assert {a.status_code for a in asked} == {401}
        assert {a.json()["error"] for a in asked} == {"use_dpop_nonce"}
        nonces = {a.headers["dpop-nonce"] for a in asked}
        # one nonce per window, whichever worker made it (two if a minute turned meanwhile:
        # the clock is real here; test_resource_nonce.py proves one with the clock held)
        assert 1 <= len(nonces) <= 2
        nonce = max(nonces, key=lambda n: sum(a.headers["dpop-nonce"] == n for a in asked))
        answers = await asyncio.gather(*(http.get("/me", headers=headers(nonce))
                                         for _ in range(N)))
        assert [a.status_code for a in answers] == [200] * N, answers[0].text
        bearer = await http.get("/me", headers={"Authorization": f"Bearer {token}"})
    assert bearer.status_code == 401 and bearer.json()["error"] == "invalid_token"
