"""DPoP over real HTTP: uvicorn with two workers on a real redis-server (RFC 9449 §5, §7, §8).

Proofs are built by joserfc in the test, as a client would; each request may land on
either worker, so the replay cache and the nonce are what the workers share in Redis.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import pytest

from oauth_middleware.store import TokenStore
from tests.dpop.holder import Holder
from tests.dpop.served import two_workers
from tests.redis_process import RedisProcess
from tests.server.token_harness import METADATA_URL, auth_of, confidential
from tests.servers import UvicornProcess

pytestmark = pytest.mark.real_redis_only

N = 20


@pytest.fixture(scope="module")
def server(redis_server: RedisProcess) -> Iterator[UvicornProcess]:
    with two_workers("tests.dpop.uvicorn_app:build", redis_server, METADATA_URL, 200) as running:
        yield running


async def dpop_token(http: httpx.AsyncClient, server: UvicornProcess, store: TokenStore,
                     holder: Holder) -> str:
    """A DPoP-bound token from client_credentials, through the nonce challenge."""
    web = await confidential(store)
    token_url = f"{server.url}/oauth/token/"
    form = {"grant_type": "client_credentials"}
    asked = await http.post("/oauth/token/", data=form, headers={
        **auth_of(web), "DPoP": holder.proof("POST", token_url)})
    assert asked.status_code == 400 and asked.json()["error"] == "use_dpop_nonce"
    nonce = asked.headers["dpop-nonce"]
    granted = await http.post("/oauth/token/", data=form, headers={
        **auth_of(web), "DPoP": holder.proof("POST", token_url, nonce=nonce)})
    assert granted.status_code == 200, granted.text
    assert granted.json()["token_type"] == "DPoP"
    assert granted.headers["dpop-nonce"] == nonce
    token: str = granted.json()["access_token"]
    return token


@pytest.mark.rule("dpop.server.nonce", "dpop.resource.ath", "dpop.proof.replay")
async def test_a_bound_token_round_trip_across_two_workers(
        server: UvicornProcess, store: TokenStore) -> None:
    holder = Holder()
    me = f"{server.url}/me"
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as http:
        token = await dpop_token(http, server, store, holder)
        for _ in range(4):  # fresh proofs, whichever worker answers
            proof = holder.proof("GET", me, access_token=token)
            ok = await http.get("/me", headers={"Authorization": f"DPoP {token}",
                                                "DPoP": proof})
            assert ok.status_code == 200, ok.text
            assert ok.json() == {"user": "", "scopes": ["read", "write"]}  # the client itself
        replayed = await http.get("/me", headers={"Authorization": f"DPoP {token}",
                                                  "DPoP": proof})
        assert replayed.status_code == 401
        assert replayed.json()["error"] == "invalid_dpop_proof"
        assert replayed.headers["www-authenticate"].startswith('DPoP realm="api", '
                                                               'error="invalid_dpop_proof"')
        stolen = await http.get("/me", headers={"Authorization": f"Bearer {token}"})
        assert stolen.status_code == 401 and stolen.json()["error"] == "invalid_token"
        thief = Holder()
        with_own_key = await http.get("/me", headers={
            "Authorization": f"DPoP {token}",
            "DPoP": thief.proof("GET", me, access_token=token)})
        assert with_own_key.status_code == 401
        assert with_own_key.json()["error"] == "invalid_dpop_proof"


@pytest.mark.rule("dpop.proof.replay")
async def test_of_concurrent_replays_of_one_proof_across_workers_exactly_one_passes(
        server: UvicornProcess, store: TokenStore) -> None:
    holder = Holder()
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as http:
        token = await dpop_token(http, server, store, holder)
        headers = {"Authorization": f"DPoP {token}",
                   "DPoP": holder.proof("GET", f"{server.url}/me", access_token=token)}
        answers = await asyncio.gather(*(http.get("/me", headers=headers) for _ in range(N)))
    statuses = sorted(a.status_code for a in answers)
    assert statuses == [200] + [401] * (N - 1)
    assert {a.json()["error"] for a in answers if a.status_code == 401} == {
        "invalid_dpop_proof"}
