"""Fault injection for the store: a Redis that dies, freezes, or fails at one exact command.

Two kinds of fault, both on both backends:

* Process faults, real Redis only: the ``own_redis`` fixture gives a test its own
  ``redis-server`` (tests/redis_process.py) to SIGKILL, SIGSTOP, thaw and restart
  on the same port without disturbing the rest of the suite. ``own_store`` is a
  TokenStore on it.
* Command faults, any backend: :func:`inject` swaps the connection class of a
  store's pool for one that counts every data command it sends (connection
  set-up such as ``CLIENT SETNAME`` is not counted) and fails the Nth:
  ``"before"`` it reaches Redis (nothing ran), ``"after"`` Redis ran it but the
  reply is lost (the dangerous case for a compare-and-set), ``once`` (a blip
  that redis-py's one retry may heal) or from then on (Redis stays down).

The module is a pytest plugin (tests/conftest.py names it), so the fixtures are
there for every test without an import.
"""

from __future__ import annotations

from collections import deque
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

import httpx
import pytest
from redis.exceptions import ConnectionError as RedisConnectionError

from oauth_middleware.store import TokenStore
from tests.redis_process import RedisProcess
from tests.store_helpers import redis_of

#: Upper bound for one refused request while Redis is frozen (SECURITY.md says ~2 s).
FROZEN_BOUND = 3.0
#: What every 503 of the token family says (SECURITY.md "Redis unavailable").
UNAVAILABLE_BODY = {
    "error": "temporarily_unavailable",
    "error_description": "The service is temporarily unavailable, try again later.",
}
#: Commands a connection sends to set itself up; never counted, never failed.
SETUP_COMMANDS = frozenset({b"CLIENT", b"HELLO", b"AUTH", b"SELECT", b"PING", b"READONLY"})

When = Literal["before", "after"]


@pytest.fixture
def own_redis() -> Iterator[RedisProcess]:
    """A redis-server of the test's own, to kill, freeze and restart."""
    server = RedisProcess().start()
    yield server
    server.stop()


@pytest.fixture
async def own_store(own_redis: RedisProcess) -> AsyncIterator[TokenStore]:
    store = TokenStore.from_url(own_redis.url)
    yield store
    await store.aclose()


@dataclass
class FaultPlan:
    """Which command fails and how; ``sent`` lists every counted command since :meth:`arm`."""

    at: int = 0
    when: When = "before"
    once: bool = True
    active: bool = False
    sent: list[str] = field(default_factory=list)
    fired: int = 0

    def arm(self, at: int, when: When = "before", *, once: bool = True) -> None:
        """Fail the ``at``-th command from now (1-based); ``once`` or every one from it on."""
        self.at, self.when, self.once, self.fired, self.active = at, when, once, 0, True
        self.sent.clear()

    def disarm(self) -> None:
        """Stop failing; what was armed, sent and fired stays readable."""
        self.active = False

    def count(self, name: bytes) -> bool:
        """Record one command; True when it is the one to fail."""
        if not self.active:
            return False
        self.sent.append(name.decode(errors="replace").upper())
        n = len(self.sent)
        if n < self.at or (self.once and n > self.at):
            return False
        self.fired += 1
        return True


def command_names(packed: bytes | str | list[Any]) -> list[bytes]:
    """The name of every command in a packed write (RESP arrays of bulk strings), as it goes
    on the wire, however it was packed."""
    if isinstance(packed, str):
        packed = packed.encode()
    data = packed if isinstance(packed, bytes) else b"".join(bytes(part) for part in packed)
    names, pos = [], 0
    while pos < len(data):
        end = data.index(b"\r\n", pos)
        count, pos = int(data[pos + 1:end]), end + 2
        for i in range(count):
            end = data.index(b"\r\n", pos)
            size, pos = int(data[pos + 1:end]), end + 2
            if i == 0:
                names.append(data[pos:pos + size].upper())
            pos += size + 2
    return names


async def inject(store: TokenStore) -> FaultPlan:
    """Make ``store``'s connections obey a :class:`FaultPlan`; returns the (disarmed) plan.

    Pooled connections are closed and forgotten, so every command from now on
    goes through a counting connection.
    """
    plan = FaultPlan()
    pool = redis_of(store).connection_pool
    pool.connection_class = _faulty(pool.connection_class, plan)
    await pool.disconnect()
    pool.reset()  # type: ignore[no-untyped-call]
    return plan


def _faulty(base: type[Any], plan: FaultPlan) -> type[Any]:
    class FaultyConnection(base):  # type: ignore[misc]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.lose: deque[bool] = deque()

        async def send_packed_command(self, command: Any, check_health: bool = True) -> None:
            names = command_names(command)
            verdicts = [False if n in SETUP_COMMANDS else plan.count(n) for n in names]
            if any(verdicts) and plan.when == "before":
                await self.disconnect()
                raise RedisConnectionError("injected fault: connection lost before sending")
            await super().send_packed_command(command, check_health)
            self.lose.extend(verdicts)

        async def read_response(self, *args: Any, **kwargs: Any) -> Any:
            lost = bool(self.lose) and self.lose.popleft()
            reply = await super().read_response(*args, **kwargs)
            if lost:
                await self.disconnect()
                raise RedisConnectionError("injected fault: reply lost")
            return reply

        async def disconnect(self, *args: Any, **kwargs: Any) -> None:
            self.lose.clear()
            await super().disconnect(*args, **kwargs)

    return FaultyConnection


def assert_unavailable_json(response: httpx.Response, *leaks: str) -> None:
    """A token-family 503: JSON, no-store, Retry-After, the generic text, nothing of ``leaks``."""
    assert response.status_code == 503, response.text
    assert response.headers["content-type"] == "application/json"
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["pragma"] == "no-cache"
    assert response.headers["retry-after"] == "5"
    assert response.json() == UNAVAILABLE_BODY
    assert_no_leak(response, *leaks)


def assert_unavailable_bearer(response: httpx.Response, *leaks: str) -> None:
    """A protected route's 503: never ``invalid_token``, so no Bearer challenge at all."""
    assert response.status_code == 503, response.text
    assert response.headers["retry-after"] == "5"
    assert response.json() == UNAVAILABLE_BODY
    assert "www-authenticate" not in response.headers
    assert_no_leak(response, *leaks)


def assert_unavailable_page(response: httpx.Response, *leaks: str) -> None:
    """auth/'s 503: an HTML page with Retry-After, never a redirect."""
    assert response.status_code == 503, response.text
    assert "location" not in response.headers
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert response.headers["retry-after"] == "5"
    assert "temporarily unavailable" in response.text
    assert "redis" not in response.text.lower()
    assert_no_leak(response, *leaks)


def assert_no_leak(response: httpx.Response, *leaks: str) -> None:
    """No traceback, no Redis address, no given secret in the body or the headers."""
    text = response.text + "\n" + "\n".join(f"{k}: {v}" for k, v in response.headers.items())
    assert "Traceback" not in text
    assert "127.0.0.1" not in text and "redis://" not in text
    for leak in leaks:
        assert leak not in text, f"{leak!r} leaked"
