"""Throughput of auth/ under wrk: the consent page and an error page (RFC 6749 §4.1.1).

Starts its own redis-server and one uvicorn worker on loopback, seeds the test
clients, runs wrk against both pages for a few seconds each, stops everything.

    .venv/bin/python -m bench.authorize_page [seconds] [connections]
"""

from __future__ import annotations

import asyncio
import subprocess
import sys

from oauth_middleware import TokenStore
from tests.redis_process import RedisProcess, free_port
from tests.server.authorize_harness import USER_HEADER, seed
from tests.servers import UvicornProcess

PAGES = {
    "consent page (4 Redis round trips, template, CSRF token)":
        "/oauth/auth/?response_type=code&client_id=web&scope=polls%3Aread&state=abc",
    "error page (unknown client, 1 round trip)": "/oauth/auth/?response_type=code&client_id=nope",
}


async def _seed(url: str) -> None:
    store = TokenStore.from_url(url)
    await seed(store)
    await store.aclose()


def main(seconds: int = 5, connections: int = 8) -> None:
    redis = RedisProcess().start()
    try:
        asyncio.run(_seed(redis.url))
        port = free_port()
        env = {"REDIS_URL": redis.url, "OM_ISSUER": f"http://127.0.0.1:{port}/oauth"}
        with UvicornProcess("tests.server.authorize_harness:uvicorn_app", "--factory",
                            "--no-access-log", "--log-level", "warning", env=env,
                            port=port) as server:
            for label, path in PAGES.items():
                out = subprocess.run(
                    ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s",
                     "-H", f"{USER_HEADER}: alice", server.url + path],
                    capture_output=True, text=True, check=True, timeout=seconds + 30,
                ).stdout
                rate = next(line for line in out.splitlines() if "Requests/sec" in line)
                print(f"{label}: {rate.split()[-1]} req/s")
    finally:
        redis.stop()


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:3]))
