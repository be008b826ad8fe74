"""Starting the demo as the README's first command does (issue 9: "Without REDIS_URL it uses
the embedded store and says so ... prints that warning"; demo-web's secret "else generated and
printed"; plain HTTP only on loopback).

The generated secret is read from the process's output and used once, to prove it is
demo-web's; no assertion below shows it (pytest prints the values an assertion names).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys

import httpx
import redis

from oauth_middleware.security import is_urlsafe
from tests.redis_process import RedisProcess, free_port
from tests.servers import ROOT, DemoProcess

WARNING = "WARNING: plain HTTP is allowed only because the demo binds to loopback."
EMBEDDED = "store: embedded in-process store (no REDIS_URL)"
_SECRET_LINE = re.compile(r"demo-web client secret \(generated, shown once\); paste .*\n"
                          r"  export DEMO_CLIENT_SECRET=(\S+)\n")


async def test_without_redis_url_or_secret_it_warns_embeds_the_store_and_prints_a_secret() -> None:
    with DemoProcess(unset=("REDIS_URL", "DEMO_CLIENT_SECRET")) as process:
        output = process.output()  # the port opens after seeding, so all of it is written
        assert WARNING in output
        assert EMBEDDED in output
        found = _SECRET_LINE.search(output)
        assert found is not None, "no generated demo-web secret in the startup output"
        secret = found.group(1)
        well_formed = is_urlsafe(secret) and len(secret) >= 43  # 256 bits, base64url
        assert well_formed
        async with httpx.AsyncClient(base_url=process.url) as http:
            home = await http.get("/")
            polls = await http.get("/polls/")
            token = await http.post("/oauth/token/", data={"grant_type": "client_credentials"},
                                    auth=("demo-web", secret))
        assert home.status_code == 200
        assert "the embedded in-process store" in home.text
        assert polls.status_code == 200
        assert [poll["id"] for poll in polls.json()] == [1, 2]
        printed_secret_is_demo_webs = token.status_code == 200
        assert printed_secret_is_demo_webs


def test_a_non_loopback_host_is_refused_with_exit_status_2() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "demo", "--host", "0.0.0.0", "--port", str(free_port())],
        cwd=ROOT, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2
    assert "only binds to a loopback address" in done.stderr
    assert done.stdout == ""  # refused before anything was served or printed


def test_a_redis_that_may_evict_clients_stops_the_demo_at_start(own_redis: RedisProcess) -> None:
    """Issue 13 §3: the start reads maxmemory-policy; allkeys-* would drop registrations."""
    with redis.Redis(port=own_redis.port) as admin:
        admin.config_set("maxmemory-policy", "allkeys-lru")
    done = subprocess.run(
        [sys.executable, "-m", "demo", "--host", "127.0.0.1", "--port", str(free_port())],
        cwd=ROOT, capture_output=True, text=True, timeout=60, check=False,
        env={**os.environ, "REDIS_URL": own_redis.url})
    assert done.returncode != 0
    assert "maxmemory-policy allkeys-lru may evict registered clients" in done.stderr
    assert "Application startup failed" in done.stderr
    with redis.Redis(port=own_redis.port) as admin:
        assert admin.dbsize() == 0  # refused before seeding anything
