"""Two real uvicorn workers with the local cache, hammered while tokens are revoked: no request
sent after a revocation returned is ever answered 200, by either worker.

The requests go over keep-alive connections spoken by hand (httpx is too slow to
keep a worker busy), pipelined two deep so that a worker always has a request
waiting; each request's send time is taken before it is written, the
revocation's end after its answer is read: "sent after" is never a guess.
"""

from __future__ import annotations

import asyncio
import base64
import time
from collections import deque
from dataclasses import dataclass
from urllib.parse import quote

import pytest

from oauth_middleware.store import NewTokens, TokenStore
from oauth_middleware.toolbox import RegisteredClient
from tests.cache_app import on_two_workers
from tests.redis_process import RedisProcess

pytestmark = pytest.mark.real_redis_only

#: Revocations tried, each while both workers are hammered.
TRIALS = 60
#: Keep-alive connections to each worker.
PER_WORKER = 8
#: Requests each connection sends before the revocation starts, and after it returned.
BEFORE, AFTER = 4, 6
#: Requests in flight on each connection (HTTP/1.1 pipelining).
DEPTH = 2
#: Bound on connections opened to reach both workers (the kernel picks the worker), and
#: how many are opened at once.
MAX_CONNECTIONS, BURST = 2000, 16


@dataclass(frozen=True)
class Answer:
    sent: float
    status: int
    body: bytes


class Connection:
    """One keep-alive HTTP/1.1 connection; answers carry a Content-Length (Starlette's do)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.pid = ""

    @classmethod
    async def open(cls, port: int) -> Connection:
        return cls(*await asyncio.open_connection("127.0.0.1", port))

    async def send(self, request: bytes) -> Answer:
        sent = self.write(request)
        status, body = await self.read()
        return Answer(sent, status, body)

    def write(self, request: bytes) -> float:
        """Send ``request`` without waiting; when it was sent."""
        sent = time.monotonic()
        self.writer.write(request)
        return sent

    async def read(self) -> tuple[int, bytes]:
        """The next answer: (status, body)."""
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        headers = dict(line.lower().split(": ", 1) for line in lines[1:] if line)
        body = await self.reader.readexactly(int(headers["content-length"]))
        self.pid = headers["x-worker-pid"]
        return int(lines[0].split(" ")[1]), body

    def close(self) -> None:
        self.writer.close()


def _get(token: str) -> bytes:
    return (f"GET /me HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n\r\n"
            .encode())


def _revoke(registered: RegisteredClient, token: str) -> bytes:
    secret = f"{registered.client.client_id}:{registered.client_secret}"
    body = f"token={quote(token)}".encode()
    return (b"POST /oauth/revoke/ HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Type: application/x-www-form-urlencoded\r\n"
            b"Authorization: Basic " + base64.b64encode(secret.encode()) + b"\r\n"
            b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)


async def _connections(port: int, probe: bytes) -> list[Connection]:
    """``PER_WORKER`` connections to each of the two workers (bounded); opened in bursts,
    so that the kernel hands some to the worker that is busy accepting the others."""
    kept: dict[str, list[Connection]] = {}
    try:
        for _ in range(MAX_CONNECTIONS // BURST):
            burst = await asyncio.gather(*(Connection.open(port) for _ in range(BURST)))
            await asyncio.gather(*(connection.send(probe) for connection in burst))
            for connection in burst:
                mine = kept.setdefault(connection.pid, [])
                if len(mine) < PER_WORKER:
                    mine.append(connection)
                else:
                    connection.close()
            if len(kept) == 2 and all(len(c) == PER_WORKER for c in kept.values()):
                return [c for group in kept.values() for c in group]
    except BaseException:
        for connection in (c for group in kept.values() for c in group):
            connection.close()
        raise
    for connection in (c for group in kept.values() for c in group):
        connection.close()
    pytest.fail(f"could not reach both workers: {list(kept)}")


async def _trial(store: TokenStore, web: RegisteredClient, hammers: list[Connection],
                 revoker: Connection) -> tuple[float, list[tuple[str, Answer]]]:
    """Warm both workers with a new token, hammer, revoke mid-hammer; (revoked at, answers)."""
    issued = await store.issue(NewTokens(client_id="web", subject="alice"))
    request = _get(issued.access_token)
    for connection in hammers:  # twice: the second answer is a cache hit
        assert [(await connection.send(request)).status for _ in range(2)] == [200, 200]
    started = asyncio.Event()
    revoked_at: list[float] = []
    answers: list[tuple[str, Answer]] = []

    async def hammer(connection: Connection) -> None:
        sent = deque(connection.write(request) for _ in range(DEPTH))
        after = 0
        while sent:
            status, body = await connection.read()
            answer = Answer(sent.popleft(), status, body)
            answers.append((connection.pid, answer))
            if len(answers) >= BEFORE * len(hammers):
                started.set()
            after += bool(revoked_at) and answer.sent > revoked_at[0]
            if after + len(sent) < AFTER:
                sent.append(connection.write(request))

    async def revoke() -> None:
        await started.wait()
        answer = await revoker.send(_revoke(web, issued.access_token))
        revoked_at.append(time.monotonic())
        assert (answer.status, answer.body) == (200, b"{}")

    await asyncio.gather(revoke(), *(hammer(c) for c in hammers))
    return revoked_at[0], answers


@pytest.mark.rule("revoke.cache-exact-on-host")
async def test_no_worker_answers_200_to_a_request_sent_after_the_revocation_returned(
    redis_server: RedisProcess,
) -> None:
    async with on_two_workers(redis_server.url) as (store, web, server):
        late, served, after_by_worker = await _hammer(store, web, server.port)
    assert late == []
    assert len(after_by_worker) == 2 and min(after_by_worker.values()) >= TRIALS
    assert served >= TRIALS  # every trial had 200s (cache hits) before its revocation


async def _hammer(store: TokenStore, web: RegisteredClient, port: int
                  ) -> tuple[list[tuple[int, str, int, bytes]], int, dict[str, int]]:
    probe = b"GET /_cache HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    hammers = await _connections(port, probe)
    revoker = await Connection.open(port)
    late: list[tuple[int, str, int, bytes]] = []
    served, after_by_worker = 0, dict.fromkeys({c.pid for c in hammers}, 0)
    try:
        for trial in range(TRIALS):
            revoked_at, answers = await _trial(store, web, hammers, revoker)
            for pid, answer in answers:
                if answer.sent <= revoked_at:
                    served += answer.status == 200
                    continue
                after_by_worker[pid] += 1
                if answer.status != 401 or b'"invalid_token"' not in answer.body:
                    late.append((trial, pid, answer.status, answer.body))
    finally:
        for connection in (*hammers, revoker):
            connection.close()
    return late, served, after_by_worker
