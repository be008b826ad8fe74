"""``python -m bench.instructions``: a token-endpoint request's cost, counted in process.

Why: wrk's requests per second move with whatever else the machine runs, so a cut worth a
few percent cannot be judged from them. This harness drives the bench's own app
(:func:`bench.apps.protected`, the token endpoint mounted at ``/oauth``) as ASGI, in one
process, by ``--concurrency`` coroutines, against one ``redis-server`` or a 3-primary Redis
Cluster it starts itself (:mod:`bench.procs`), with the bench client already at its
grant cap (every issue displaces one grant: the steady state of ``token_cc``/``cluster_cc``).
It reports per request:

* the commands Redis ran (``INFO commandstats``, every node, the commands inside scripts
  included) and the round trips the process made (packed sends on any connection);
* with ``--callgrind``: the instructions the process executed, counted by valgrind's
  callgrind (no other job on the machine can move that figure), as the difference of two
  runs of ``--requests`` and twice as many, so start-up, imports and warm-up cancel out;
* with ``--profile``: where the measured requests' time went, by cProfile, per group of
  functions (:data:`GROUPS`; a share, not a deterministic count).

Examples::

    python -m bench.instructions --topology single --callgrind
    python -m bench.instructions --topology cluster --profile
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import cProfile
import os
import pstats
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import redis

from bench import procs, seed
from oauth_middleware import TokenStore
from oauth_middleware.limits import GRANTS_PER_CLIENT
from oauth_middleware.store import NewTokens

#: The issuer the app is told it serves (nothing connects to it).
ISSUER = "http://127.0.0.1:8000/oauth"
#: cProfile groups (``--profile``): a function belongs to the first group one of whose
#: fragments its file path or name contains; the rest is "other".
GROUPS: list[tuple[str, tuple[str, ...]]] = [
    ("routing (ClusterRouter, slots, node lookup)", (
        "_gateway/cluster.py", "redis/crc.py", "binascii.crc_hqx")),
    ("redis-py cluster client", ("redis/asyncio/cluster.py",)),
    ("redis-py connection and parser", ("redis/asyncio/connection.py", "redis/_parsers",
                                        "redis/connection.py", "hiredis")),
    ("gateway pipeline and batch", ("_gateway/pipeline.py", "_gateway/batch.py",
                                    "_gateway/gateway.py")),
    ("sweep after the cap", ("store/_sweep.py", "store/_exchange.py")),
    ("store (grants, minting, clients)", ("oauth_middleware/store/",)),
    ("authorization server", ("oauth_middleware/server/",)),
    ("middleware and the rest of oauth_middleware", ("oauth_middleware/",)),
    ("starlette", ("starlette/",)),
    ("asyncio and the event loop", ("asyncio/", "uvloop", "select.epoll", "socket")),
]


def _parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.instructions", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--topology", choices=["single", "cluster"], default="single")
    p.add_argument("--requests", type=int, default=300, help="measured requests (300)")
    p.add_argument("--warmup", type=int, default=200, help="requests before them (200)")
    p.add_argument("--concurrency", type=int, default=32, help="coroutines at once (32)")
    p.add_argument("--callgrind", action="store_true", help="count instructions (valgrind)")
    p.add_argument("--profile", action="store_true", help="cProfile shares by group")
    p.add_argument("--below-cap", action="store_true",
                   help="the client's own grants emptied before each run: no issue displaces")
    p.add_argument("--drive", action="store_true", help=argparse.SUPPRESS)
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = _parse(sys.argv[1:] if argv is None else argv)
    if args.drive:
        asyncio.run(_drive(args))
        return
    with _topology(args.topology) as url:
        secret = asyncio.run(_seed(url))
        env = {**os.environ, "REDIS_URL": url, "BENCH_ISSUER": ISSUER,
               "BENCH_SECRET": secret}
        drive = [sys.executable, "-m", "bench.instructions", "--drive",
                 "--warmup", str(args.warmup), "--concurrency", str(args.concurrency)]

        def prepare() -> None:
            if args.below_cap:
                asyncio.run(_grants(url, 0))

        nodes = _nodes(url)
        prepare()
        before = _commands(nodes)
        out = subprocess.run([*drive, "--requests", str(args.requests),
                              *(["--profile"] if args.profile else [])],
                             env=env, check=True, capture_output=True, text=True).stdout
        commands = _commands(nodes) - before - 2 * len(nodes)  # the two INFO per node
        total = args.warmup + args.requests
        print(f"{args.topology}: {commands / total:.2f} Redis commands per request "
              f"(scripts' own included), {out.strip()}")
        if args.callgrind:
            counts = [_instructions(drive, env, n, prepare)
                      for n in (args.requests, 2 * args.requests)]
            per = (counts[1] - counts[0]) / args.requests
            print(f"{args.topology}: {per / 1000:,.1f} thousand instructions per request "
                  f"(callgrind, {args.requests} requests)")


@contextlib.contextmanager
def _topology(kind: str) -> Iterator[str]:
    if kind == "cluster":
        with procs.redis_cluster(None) as url:
            yield url
        return
    with procs.redis_server(None) as server:
        yield f"redis://127.0.0.1:{server.port}/0"


def _nodes(url: str) -> list[redis.Redis]:
    hosts = url.split("://", 1)[1].split("/", 1)[0].split(",")
    return [redis.Redis(host=h.split(":")[0], port=int(h.split(":")[1])) for h in hosts]


def _commands(nodes: list[redis.Redis]) -> int:
    """Commands every node has run so far (its ``INFO commandstats``)."""
    return sum(int(stats["calls"]) for node in nodes
               for stats in node.info("commandstats").values())


async def _seed(url: str) -> str:
    """The bench's client and data, and the client's own grants filled up to its cap."""
    store = TokenStore.from_url(url)
    try:
        seeded = await seed.base(store)
    finally:
        await store.aclose()
    await _grants(url, GRANTS_PER_CLIENT)
    return seeded.client_secret


async def _grants(url: str, count: int) -> None:
    """The bench client's grants revoked, then ``count`` of its own issued."""
    store = TokenStore.from_url(url)
    try:
        await store.revoke_client_tokens(seed.CLIENT_ID)
        spec = NewTokens(client_id=seed.CLIENT_ID, subject=seed.CLIENT_ID,
                         subject_type="client", scopes=frozenset({seed.SCOPE}), lifetime=3600)
        limit = asyncio.Semaphore(seed.CONCURRENCY)

        async def one() -> None:
            async with limit:
                await store.issue(spec)

        await asyncio.gather(*(one() for _ in range(count)))
    finally:
        await store.aclose()


def _instructions(drive: list[str], env: dict[str, str], requests: int,
                  prepare: Callable[[], None]) -> int:
    """Instructions the driver executed in all, under callgrind (after ``prepare()``)."""
    prepare()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "callgrind.out"
        # one hash seed for both runs: a random one moves start-up by millions of
        # instructions (dict and set layouts), which the difference would keep
        subprocess.run(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}",
                        *drive, "--requests", str(requests)],
                       env={**env, "PYTHONHASHSEED": "0"}, check=True, capture_output=True)
        for line in out.read_text().splitlines():
            if line.startswith(("summary:", "totals:")):
                return int(line.split()[1])
    raise RuntimeError("callgrind wrote no total")


async def _drive(args: argparse.Namespace) -> None:
    """Run in the child: warm-up, then the measured requests; print the round trips."""
    with contextlib.suppress(ImportError):  # the bench's uvicorn runs on uvloop too
        import uvloop
        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    request = _target()
    await _requests(*request, args.warmup, args.concurrency)
    trips = _count_sends()
    profile = cProfile.Profile() if args.profile else None
    if profile is not None:
        profile.enable()
    await _requests(*request, args.requests, args.concurrency)
    if profile is not None:
        profile.disable()
    print(f"{trips[0] / args.requests:.2f} round trips per request "
          f"({args.concurrency} at once)")
    if profile is not None:
        _report(profile, args.requests)


def _target() -> tuple[Any, dict[str, Any], bytes]:
    """The bench app, and the ASGI scope and body of one client_credentials request."""
    from bench.apps import protected

    basic = base64.b64encode(f"{seed.CLIENT_ID}:{os.environ['BENCH_SECRET']}".encode())
    body = f"grant_type=client_credentials&scope={seed.SCOPE}".encode()
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
             "method": "POST", "scheme": "http", "path": "/oauth/token",
             "raw_path": b"/oauth/token", "root_path": "", "query_string": b"",
             "headers": [(b"host", b"127.0.0.1:8000"), (b"authorization", b"Basic " + basic),
                         (b"content-type", b"application/x-www-form-urlencoded"),
                         (b"content-length", str(len(body)).encode())],
             "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 8000)}
    return protected(), scope, body


def _count_sends() -> list[int]:
    """Count every packed send on any Redis connection from now on (one per round trip)."""
    from redis.asyncio.connection import AbstractConnection

    sent = [0]
    original = AbstractConnection.send_packed_command

    async def counted(self: AbstractConnection, *args: Any, **kwargs: Any) -> None:
        sent[0] += 1
        await original(self, *args, **kwargs)

    AbstractConnection.send_packed_command = counted  # type: ignore[method-assign]
    return sent


async def _requests(app: Any, scope: dict[str, Any], body: bytes, count: int,
                    concurrency: int) -> None:
    left = [count]

    async def worker() -> None:
        while left[0] > 0:
            left[0] -= 1
            status = await _one(app, scope, body)
            if status != 200:
                raise RuntimeError(f"the token endpoint answered {status}")

    await asyncio.gather(*(worker() for _ in range(concurrency)))


async def _one(app: Any, scope: dict[str, Any], body: bytes) -> int:
    sent = [False]
    status = [0]

    async def receive() -> dict[str, Any]:
        if sent[0]:
            await asyncio.Event().wait()  # no disconnect while the answer is written
        sent[0] = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            status[0] = message["status"]

    await app(dict(scope), receive, send)
    return status[0]


def _report(profile: cProfile.Profile, requests: int) -> None:
    """Each group's own (exclusive) time per request, and its share of the whole."""
    stats = pstats.Stats(profile)
    shares: dict[str, float] = {}
    for (path, _, name), row in stats.stats.items():  # type: ignore[attr-defined]
        where = f"{path}:{name}"
        group = next((g for g, parts in GROUPS if any(p in where for p in parts)), "other")
        shares[group] = shares.get(group, 0.0) + row[2]
    total = sum(shares.values())
    print(f"  {total / requests * 1e6:7.1f} us per request under cProfile")
    for group, spent in sorted(shares.items(), key=lambda kv: -kv[1]):
        print(f"  {spent / requests * 1e6:7.1f} us {spent / total:6.1%}  {group}")


if __name__ == "__main__":
    main()
