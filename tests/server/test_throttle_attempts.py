"""Password checks in flight reserve their place first (RFC 6749 §2.3.1, §4.3.2): a burst makes
the ``verify_password`` hook hash no more than the caller's allowance, every place is freed
however its request ends, and a place never freed stops counting by the store's clock."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from typing import Any

import anyio
import httpx
import pytest
from starlette.applications import Starlette

from oauth_middleware.server import ThrottlePolicy
from oauth_middleware.store import StoreUnavailable, TokenStore
from oauth_middleware.toolbox import RegisteredClient
from tests.conftest import FakeClock
from tests.server.token_harness import (
    BASE_URL,
    TOKEN_PATH,
    assert_error,
    auth_of,
    build_app,
    confidential,
)
from tests.store_helpers import redis_of

ATTACKER = "198.51.100.66"
VICTIM = "203.0.113.10"
N = 50
POLICY = ThrottlePolicy(password_failures=5, password_failures_overall=12, window=60,
                        attempt_timeout=20)
WRONG = {"grant_type": "password", "username": "bob", "password": "guess"}
RIGHT = {"grant_type": "password", "username": "bob", "password": "pw-bob"}


def from_address(app: Starlette, address: str) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(address, 40000))
    return httpx.AsyncClient(transport=transport, base_url=BASE_URL)


def assert_slow_down(response: httpx.Response) -> None:
    assert_error(response, 429, "slow_down")
    assert 0 < int(response.headers["retry-after"]) <= POLICY.window


class Hook:
    """A verify_password that counts its calls; the first wrong passwords, as many as an
    address may have checked, wait for ``gate`` (any more answer at once: a throttle that let
    them through fails the test instead of hanging it)."""

    def __init__(self, *, raises: bool = False) -> None:
        self.calls = self.answered = 0
        self.raises = raises
        self.gate = asyncio.Event()
        self.progress = asyncio.Event()

    async def __call__(self, username: str, password: str) -> str | None:
        self.calls += 1
        if (username, password) == ("bob", "pw-bob"):
            return "user-bob"
        self.progress.set()
        if self.calls <= POLICY.password_failures:
            await self.gate.wait()
        if self.raises:
            raise RuntimeError("the user database is down")
        return None

    async def post(self, client: httpx.AsyncClient, data: dict[str, str],
                   headers: dict[str, str]) -> httpx.Response:
        """A request, noted as answered (so a test can wait for a burst to settle)."""
        response = await client.post(TOKEN_PATH, data=data, headers=headers)
        self.answered += 1
        self.progress.set()
        return response

    async def until(self, done: int) -> None:
        """Wait until ``done`` requests are inside the hook or answered."""
        while self.calls + self.answered < done:
            self.progress.clear()
            await self.progress.wait()


@pytest.fixture
async def pw(store: TokenStore) -> RegisteredClient:
    return await confidential(store, "pw", grant_types=["password"])


async def _places(store: TokenStore, address: str = ATTACKER) -> int:
    return int(await redis_of(store).zcard(store.keys.attempts("password", "bob", address)))


@pytest.mark.rule("abuse.throttle.reserve-first", "abuse.throttle.no-lockout", "token.password")
async def test_a_burst_of_wrong_passwords_reaches_the_hook_the_allowance_of_times_and_bob_still_signs_in(  # noqa: E501
    store: TokenStore, pw: RegisteredClient
) -> None:
    """50 wrong passwords at once from one address: 5 reach the hook and hold its places, 45
    are refused before it (Retry-After 1: nothing counted yet); meanwhile bob at another
    address, and alice at the attacker's, sign in. Released, the 5 are 400 and counted."""
    hook = Hook()
    app = build_app(store, verify_password=hook, throttle=POLICY)
    async with from_address(app, ATTACKER) as attacker, from_address(app, VICTIM) as victim:
        burst = [asyncio.create_task(hook.post(attacker, WRONG, auth_of(pw))) for _ in range(N)]
        await hook.until(N)  # each one is in the hook or answered
        assert hook.calls == POLICY.password_failures and await _places(store) == 5
        refused = [task.result() for task in burst if task.done()]
        assert len(refused) == N - POLICY.password_failures
        for response in refused:
            assert_slow_down(response)
            assert response.headers["retry-after"] == "1"
        own = await victim.post(TOKEN_PATH, data=RIGHT, headers=auth_of(pw))
        assert own.status_code == 200, own.text
        assert own.json()["token_type"] == "Bearer"
        hook.gate.set()
        for response in await asyncio.gather(*(task for task in burst if not task.done())):
            assert_error(response, 400, "invalid_grant")
        after = await attacker.post(TOKEN_PATH, data=RIGHT, headers=auth_of(pw))
        assert_slow_down(after)
        assert after.headers["retry-after"] == "60"
    assert hook.calls == POLICY.password_failures + 1  # the victim's right password
    assert await store.throttle.failures_from("password", "bob", ATTACKER) == ((5, 60), (5, 60))
    assert await _places(store) == 0


@pytest.mark.rule("abuse.throttle.reserve-first", "token.password")
async def test_a_hook_that_raises_frees_its_place(
    store: TokenStore, pw: RegisteredClient
) -> None:
    """A broken hook is a 500, not a failure: nothing is counted and its places are freed,
    so twice the allowance of attempts in a row all reach the hook."""
    hook = Hook(raises=True)
    hook.gate.set()
    app = build_app(store, verify_password=hook, throttle=POLICY)
    async with from_address(app, ATTACKER) as attacker:
        for _ in range(2 * POLICY.password_failures):
            response = await attacker.post(TOKEN_PATH, data=WRONG, headers=auth_of(pw))
            assert_error(response, 500, "server_error")
            assert "database" not in response.text
    assert hook.calls == 2 * POLICY.password_failures
    assert await _places(store) == 0
    assert await store.throttle.failures_from("password", "bob", ATTACKER) == ((0, 0), (0, 0))


@pytest.mark.rule("abuse.throttle.reserve-first", "token.password")
async def test_cancelled_requests_free_their_places(
    store: TokenStore, pw: RegisteredClient
) -> None:
    """Five checks hang in the hook holding every place (a sixth is refused); their requests
    are cancelled, three as asyncio tasks and two by an anyio cancel scope (a host's timeout,
    which cancels every await until the scope is left): the places are free again and the
    next five attempts are checked and counted."""
    hook = Hook()
    app = build_app(store, verify_password=hook, throttle=POLICY)
    scopes = [anyio.CancelScope() for _ in range(2)]

    async def within(scope: anyio.CancelScope, client: httpx.AsyncClient) -> None:
        with scope:
            await client.post(TOKEN_PATH, data=WRONG, headers=auth_of(pw))

    async with from_address(app, ATTACKER) as attacker:
        tasks = [asyncio.create_task(attacker.post(TOKEN_PATH, data=WRONG, headers=auth_of(pw)))
                 for _ in range(3)]
        scoped = [asyncio.create_task(within(scope, attacker)) for scope in scopes]
        await hook.until(POLICY.password_failures)
        assert_slow_down(await attacker.post(TOKEN_PATH, data=WRONG, headers=auth_of(pw)))
        for task in tasks:
            task.cancel()
        for scope in scopes:
            scope.cancel()
        await asyncio.gather(*tasks, *scoped, return_exceptions=True)
        assert all(task.cancelled() for task in tasks)
        assert all(scope.cancelled_caught for scope in scopes)
        assert await _places(store) == 0
        assert await store.throttle.failures_from("password", "bob", ATTACKER) == ((0, 0), (0, 0))
        hook.gate.set()
        for _ in range(POLICY.password_failures):
            assert_error(await attacker.post(TOKEN_PATH, data=WRONG, headers=auth_of(pw)),
                         400, "invalid_grant")
        assert_slow_down(await attacker.post(TOKEN_PATH, data=WRONG, headers=auth_of(pw)))
    assert hook.calls == 2 * POLICY.password_failures
    assert await store.throttle.failures_from("password", "bob", ATTACKER) == ((5, 60), (5, 60))


@pytest.mark.rule("abuse.throttle.reserve-first", "token.password")
async def test_a_request_cancelled_while_its_reservation_is_answered_frees_the_place(
    store: TokenStore, pw: RegisteredClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Redis reserved the place, but the request is cancelled before the reply arrives (a
    server shutting down): the place is freed all the same, not held until it expires."""
    reserved, gate = asyncio.Event(), asyncio.Event()
    original = store.throttle.reserve_attempt

    async def reply_held(*args: Any, **kwargs: Any) -> tuple[bool, tuple[int, int]]:
        result = await original(*args, **kwargs)
        reserved.set()
        await gate.wait()
        return result

    monkeypatch.setattr(store.throttle, "reserve_attempt", reply_held)
    hook = Hook()
    app = build_app(store, verify_password=hook, throttle=POLICY)
    async with from_address(app, ATTACKER) as attacker:
        task = asyncio.create_task(attacker.post(TOKEN_PATH, data=WRONG, headers=auth_of(pw)))
        await reserved.wait()
        assert await _places(store) == 1
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert task.cancelled() and hook.calls == 0
    assert await _places(store) == 0


@pytest.mark.rule("abuse.throttle.reserve-first")
async def test_a_place_never_freed_stops_counting_after_the_attempt_timeout(
    store: TokenStore, clock: FakeClock
) -> None:
    """Places whose worker died are never ended: they refuse until ``attempt_timeout`` has
    passed by the store's clock, and Redis drops the set within that time unaided."""
    def reserve(attempt: str) -> Awaitable[tuple[bool, tuple[int, int]]]:
        return store.throttle.reserve_attempt("password", "bob", ATTACKER, attempt=attempt, hold=20,
                                     allowance=5, threshold=12)

    for n in range(5):
        assert await reserve(f"crashed-{n}") == (True, (0, 0))
        clock.advance(1)
    assert await reserve("next") == (False, (0, 0))
    key = store.keys.attempts("password", "bob", ATTACKER)
    assert 0 < await redis_of(store).pttl(key) <= 20_000
    clock.advance(15)  # 20 s after the first place: only it stopped counting
    assert await reserve("next") == (True, (0, 0))
    assert await reserve("one-more") == (False, (0, 0))
    assert await redis_of(store).zcard(key) == 5
    assert await reserve("next") == (True, (0, 0))  # resent after a lost reply: its own place


@pytest.mark.rule("abuse.throttle.reserve-first", "abuse.throttle.no-lockout")
async def test_places_are_per_username_and_address_and_follow_the_lowered_allowance(
    store: TokenStore
) -> None:
    """Another username or address has places of its own; past the overall count an address
    gets one place at most, and none once it has a failure."""
    def reserve(user: str, address: str, attempt: str
                ) -> Awaitable[tuple[bool, tuple[int, int]]]:
        return store.throttle.reserve_attempt("password", user, address, attempt=attempt, hold=20,
                                     allowance=2, threshold=3)

    assert [await reserve("bob", ATTACKER, f"a{n}") for n in range(3)] == [
        (True, (0, 0)), (True, (0, 0)), (False, (0, 0))]
    assert await reserve("alice", ATTACKER, "b") == (True, (0, 0))
    assert await reserve("bob", VICTIM, "c") == (True, (0, 0))
    for address in ("10.0.0.1", "10.0.0.2", "10.0.0.3"):
        await store.throttle.count_failures("password", "bob", address, window=60)
    assert await reserve("bob", "10.0.0.4", "d") == (True, (0, 0))
    assert await reserve("bob", "10.0.0.4", "e") == (False, (0, 0))
    assert await reserve("bob", "10.0.0.1", "f") == (False, (1, 60))


@pytest.mark.rule("abuse.throttle.count-first")
async def test_a_busy_client_sends_its_right_secret_fifty_times_at_once(
    store: TokenStore
) -> None:
    """Client secrets are a fast hash on the loop: they reserve nothing, so a client's
    concurrency is never capped by the throttle, and a right secret writes no throttle key."""
    web = await confidential(store)
    app = build_app(store, throttle=POLICY)
    async with from_address(app, ATTACKER) as client:
        answers = await asyncio.gather(*(client.post(
            TOKEN_PATH, data={"grant_type": "client_credentials"}, headers=auth_of(web))
            for _ in range(N)))
    assert [r.status_code for r in answers] == [200] * N
    assert len({r.json()["access_token"] for r in answers}) == N
    for pattern in ("throttle:*", "attempts:*"):
        assert [k async for k in redis_of(store).scan_iter(match=store.keys.prefix + pattern)] == []


@pytest.mark.rule("abuse.throttle.reserve-first", "rest.no-secret-in-logs")
async def test_a_place_that_cannot_be_freed_is_logged_with_when_it_expires(
    store: TokenStore, pw: RegisteredClient, monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The hook raised and Redis went away before the place was freed: the hook's error is
    still the answer, and the log says which place stays held and for how long."""

    async def unreachable(*args: Any, **kwargs: Any) -> None:
        raise StoreUnavailable()

    hook = Hook(raises=True)
    hook.gate.set()
    app = build_app(store, verify_password=hook, throttle=POLICY)
    monkeypatch.setattr(store.throttle, "end_attempt", unreachable)
    with caplog.at_level(logging.WARNING, logger="oauth_middleware.server"):
        async with from_address(app, ATTACKER) as attacker:
            response = await attacker.post(TOKEN_PATH, data=WRONG, headers=auth_of(pw))
    assert_error(response, 500, "server_error")
    warnings = [r.getMessage() for r in caplog.records
                if r.name == "oauth_middleware.server" and r.levelno == logging.WARNING]
    assert warnings == ["a password attempt's place was not freed (StoreUnavailable); "
                        "it expires in 20 s"]
    assert await _places(store) == 1
    assert "guess" not in caplog.text and "bob" not in caplog.text


class HeldOnce:
    """A verify_password whose wrong answers wait for ``hold`` while it is set."""

    def __init__(self) -> None:
        self.hold: asyncio.Event | None = None
        self.entered = asyncio.Event()

    async def __call__(self, username: str, password: str) -> str | None:
        if (username, password) == ("bob", "pw-bob"):
            return "user-bob"
        if self.hold is not None:
            self.entered.set()
            await self.hold.wait()
        return None


@pytest.mark.rule("abuse.throttle.reserve-first", "abuse.throttle.no-lockout")
async def test_a_failure_is_judged_by_the_allowance_lowered_while_it_was_checked(
    store: TokenStore, pw: RegisteredClient
) -> None:
    """The attacker's second guess takes a place under the usual allowance; while the hook
    checks it, guesses from two more addresses bring bob's overall count to the threshold,
    so the attacker is allowed one failure, and had one: the guess is answered 429."""
    hook = HeldOnce()
    policy = ThrottlePolicy(password_failures=5, password_failures_overall=3, window=60,
                            attempt_timeout=20)
    app = build_app(store, verify_password=hook, throttle=policy)
    async with from_address(app, ATTACKER) as attacker:
        assert_error(await attacker.post(TOKEN_PATH, data=WRONG, headers=auth_of(pw)),
                     400, "invalid_grant")
        held = hook.hold = asyncio.Event()
        guess = asyncio.create_task(attacker.post(TOKEN_PATH, data=WRONG, headers=auth_of(pw)))
        await hook.entered.wait()
        hook.hold = None
        for address in (VICTIM, "192.0.2.7"):
            async with from_address(app, address) as other:
                assert_error(await other.post(TOKEN_PATH, data=WRONG, headers=auth_of(pw)),
                             400, "invalid_grant")
        held.set()
        assert_slow_down(await guess)
    assert await store.throttle.failures_from("password", "bob", ATTACKER) == ((2, 60), (4, 60))
    assert await _places(store) == 0


@pytest.mark.rule("abuse.throttle.reserve-first", "redis.token-503")
async def test_each_attempt_ends_its_place_once_and_an_outage_is_not_waited_out_twice(
    store: TokenStore, pw: RegisteredClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One ending per place taken: none for a refused reservation or one Redis never
    answered, one for a checked password even when Redis fails to answer it (a second
    call would only wait out the same outage before the 503)."""
    ended: list[str] = []
    end_attempt, reserve_attempt = store.throttle.end_attempt, store.throttle.reserve_attempt
    down = {"reserve": False, "end": False}

    async def counted_end(*args: Any, **kwargs: Any) -> Any:
        ended.append(kwargs["attempt"])
        if down["end"]:
            raise StoreUnavailable()
        return await end_attempt(*args, **kwargs)

    async def maybe_down(*args: Any, **kwargs: Any) -> Any:
        if down["reserve"]:
            raise StoreUnavailable()
        return await reserve_attempt(*args, **kwargs)

    monkeypatch.setattr(store.throttle, "end_attempt", counted_end)
    monkeypatch.setattr(store.throttle, "reserve_attempt", maybe_down)
    hook = Hook()
    hook.gate.set()
    app = build_app(store, verify_password=hook, throttle=POLICY)
    async with from_address(app, ATTACKER) as attacker:

        async def post(data: dict[str, str]) -> httpx.Response:
            return await attacker.post(TOKEN_PATH, data=data, headers=auth_of(pw))

        assert (await post(RIGHT)).status_code == 200
        assert_error(await post(WRONG), 400, "invalid_grant")
        assert len(ended) == 2 and len(set(ended)) == 2
        down["end"] = True
        assert_error(await post(WRONG), 503, "temporarily_unavailable")
        assert len(ended) == 3
        down["end"], down["reserve"] = False, True
        assert_error(await post(WRONG), 503, "temporarily_unavailable")
        down["reserve"] = False
        for _ in range(POLICY.password_failures):
            await post(WRONG)
        assert_slow_down(await post(WRONG))
    # One failure counted and one place still held (its end never reached Redis): 3 more.
    assert len(ended) == 3 + POLICY.password_failures - 2
