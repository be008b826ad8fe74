"""Brute-force throttling (RFC 6749 §2.3.1, §4.3.2): counted first, keyed so nobody can lock
anybody else out; windows end by the store's clock, Redis tidies up."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from oauth_middleware.errors import SlowDown
from oauth_middleware.server import ThrottlePolicy, throttle
from oauth_middleware.server.throttle import Bucket, Throttle, caller_address, normalised_username
from oauth_middleware.store import TokenStore
from oauth_middleware.toolbox import RegisteredClient
from tests.conftest import FakeClock
from tests.server.token_harness import (
    BASE_URL,
    INTROSPECT_PATH,
    TOKEN_PATH,
    assert_error,
    assert_invalid_client,
    auth_of,
    basic,
    build_app,
    code_form,
    confidential,
    new_code,
    public,
)
from tests.store_helpers import count_failure, failures, redis_of

ATTACKER = "198.51.100.66"
VICTIM = "203.0.113.10"
CC = {"grant_type": "client_credentials"}
#: Concurrent requests fired at once in the race tests.
N = 50
POLICY = ThrottlePolicy(client_failures=10, client_failures_overall=40, password_failures=5,
                        password_failures_overall=12, window=60)


def from_address(app: Starlette, address: str) -> httpx.AsyncClient:
    """An ASGI client whose every request comes from ``address`` (``scope["client"]``)."""
    transport = httpx.ASGITransport(app=app, client=(address, 40000))
    return httpx.AsyncClient(transport=transport, base_url=BASE_URL)


def assert_slow_down(response: httpx.Response, window: int = POLICY.window) -> None:
    assert_error(response, 429, "slow_down")
    assert 0 < int(response.headers["retry-after"]) <= window


async def users(username: str, password: str) -> str | None:
    """verify_password: alice and bob, both active."""
    known = {"alice": "pw-alice", "bob": "pw-bob"}
    return f"user-{username}" if known.get(username) == password else None


def password_form(username: str, password: str) -> dict[str, str]:
    return {"grant_type": "password", "username": username, "password": password}


@pytest.fixture
def app(store: TokenStore) -> Starlette:
    return build_app(store, verify_password=users, throttle=POLICY)


@pytest.fixture
async def pw(store: TokenStore) -> RegisteredClient:
    return await confidential(store, "pw", grant_types=["password", "refresh_token"])


# --- the counters -----------------------------------------------------------------------------

@pytest.mark.rule("abuse.throttle")
async def test_window_starts_at_the_first_failure_and_is_not_extended(
    store: TokenStore, clock: FakeClock
) -> None:
    assert await count_failure(store, "client", "web", window=60) == (1, 60)
    clock.advance(20)
    assert await count_failure(store, "client", "web", window=60) == (2, 40)
    assert await failures(store, "client", "web") == (2, 40)


@pytest.mark.rule("abuse.throttle")
async def test_window_ends_by_the_clock_and_counting_starts_again(
    store: TokenStore, clock: FakeClock
) -> None:
    for _ in range(3):
        await store.throttle.count_failures("client", "web", VICTIM, window=60)
    clock.advance(60)
    assert await store.throttle.failures_from("client", "web", VICTIM) == ((0, 0), (0, 0))
    counted = await store.throttle.count_failures("client", "web", VICTIM, window=60)
    assert counted == ((1, 60), (1, 60))


@pytest.mark.rule("abuse.throttle", "rest.no-raw-secrets")
async def test_every_counter_expires_with_its_window_and_names_nothing_raw(
    store: TokenStore
) -> None:
    await store.throttle.count_failures("password", "alice@example.com", VICTIM, window=60)
    pattern = f"{store.keys.prefix}throttle:*"
    keys = [k.decode() async for k in redis_of(store).scan_iter(match=pattern)]
    assert len(keys) == 2
    assert not any("alice" in key or VICTIM in key for key in keys)
    for key in keys:
        assert 0 < await redis_of(store).pttl(key) <= 60_000


@pytest.mark.rule("abuse.throttle", "abuse.throttle.no-lockout")
async def test_throttle_refuses_an_address_at_its_limit_with_the_time_left(
    store: TokenStore, clock: FakeClock
) -> None:
    throttle = Throttle(store, ThrottlePolicy(password_failures=2, window=30))
    await throttle.check("password", "alice", ATTACKER)
    await throttle.failed("password", "alice", ATTACKER)
    clock.advance(10)
    await throttle.failed("password", "alice", ATTACKER)
    with pytest.raises(SlowDown) as refused:
        await throttle.check("password", "alice", ATTACKER)
    assert refused.value.headers == {"Retry-After": "20"}
    with pytest.raises(SlowDown):
        await throttle.failed("password", "alice", ATTACKER)
    await throttle.check("password", "alice", VICTIM)
    await throttle.check("password", "bob", ATTACKER)
    clock.advance(20)
    await throttle.check("password", "alice", ATTACKER)


@pytest.mark.rule("abuse.throttle.no-lockout")
async def test_past_the_overall_count_each_address_is_allowed_one_failure(
    store: TokenStore
) -> None:
    throttle = Throttle(store, ThrottlePolicy(password_failures=5, password_failures_overall=3))
    for address in ("10.0.0.1", "10.0.0.2", "10.0.0.3"):
        await throttle.failed("password", "alice", address)
    with pytest.raises(SlowDown):
        await throttle.check("password", "alice", "10.0.0.1")
    await throttle.failed("password", "alice", "10.0.0.4")  # a new address: one is judged
    with pytest.raises(SlowDown):
        await throttle.failed("password", "alice", "10.0.0.4")
    await throttle.check("password", "alice", "10.0.0.5")  # no failure from here: passes
    assert await failures(store, "password", "alice") == (5, 300)


@pytest.mark.rule("abuse.throttle.no-lockout")
@pytest.mark.parametrize("bucket", ["client", "password"])
async def test_the_allowance_is_lowered_exactly_when_the_overall_count_reaches_its_threshold(
    store: TokenStore, bucket: Bucket
) -> None:
    """The failure that makes the overall count reach the threshold is still judged by the
    usual allowance; the next one, from an address that already failed, is not."""
    throttle = Throttle(store, ThrottlePolicy(client_failures=5, client_failures_overall=3,
                                              password_failures=5, password_failures_overall=3))
    for address in ("10.0.0.1", "10.0.0.2", "10.0.0.1"):  # the third: 2 before it, of 3
        await throttle.failed(bucket, "alice", address)
    with pytest.raises(SlowDown):  # 3 before it: this address is allowed one, and had one
        await throttle.failed(bucket, "alice", "10.0.0.2")
    assert await failures(store, bucket, "alice") == (4, 300)
    assert await store.throttle.failures_from(bucket, "alice", "10.0.0.2") == ((2, 300), (4, 300))


@pytest.mark.rule("abuse.throttle.normalised-username")
def test_usernames_are_counted_normalised() -> None:
    names = (" Bob ", "BOB", "\uff42\uff4f\uff42", "bob", "\tBoB\n", "\u3000bob")
    assert {normalised_username(name) for name in names} == {"bob"}
    assert normalised_username("Stra\u00dfe") == normalised_username("STRASSE") == "strasse"
    assert normalised_username("alice") != normalised_username("bob")


@pytest.mark.rule("abuse.throttle.no-lockout")
@pytest.mark.parametrize(("client", "expected"), [
    (("203.0.113.10", 5000), "203.0.113.10"),
    (("2001:db8:1:2:3:4:5:6", 5000), "2001:db8:1:2::/64"),
    (("2001:db8:1:2:ffff::1", 5000), "2001:db8:1:2::/64"),
    (("::ffff:203.0.113.10", 5000), "203.0.113.10"),
    (("fe80::1%eth0", 5000), "fe80::/64"),
    (("/run/app.sock", 0), "/run/app.sock"),
    (None, ""),
    ((), ""),
])
def test_the_caller_is_the_asgi_servers_client_and_ipv6_counts_by_its_64(
    client: Any, expected: str
) -> None:
    """X-Forwarded-For is never read: only uvicorn's proxy-header handling may set the client."""
    scope = {"type": "http", "client": client,
             "headers": [(b"x-forwarded-for", b"192.0.2.99")]}
    assert caller_address(scope) == expected


@pytest.mark.rule("abuse.bounded.memory")
def test_remembered_caller_addresses_are_short_and_bounded_in_number() -> None:
    """Addresses are remembered (parsing one is a few µs, asked twice per token request):
    a caller rotating through addresses only evicts, and a long host name (a proxy may
    pass anything) is answered as before but never kept."""
    throttle._remembered.cache_clear()
    for i in range(throttle.ADDRESS_MEMO + 500):
        caller_address({"client": (f"2001:db8:{i:x}::1", 1)})
    assert throttle._remembered.cache_info().currsize == throttle.ADDRESS_MEMO
    throttle._remembered.cache_clear()
    long_name = "/run/" + "s" * 60_000
    assert caller_address({"client": (long_name, 0)}) == long_name[:throttle.MAX_ADDRESS]
    assert caller_address({"client": ("203.0.113.10", 1)}) == "203.0.113.10"
    assert throttle._remembered.cache_info().currsize == 1


def test_a_policy_out_of_range_names_the_fix() -> None:
    with pytest.raises(ValueError, match=r"client_failures must be 1 to"):
        ThrottlePolicy(client_failures=0)
    with pytest.raises(ValueError, match=r"window must be 1 to 86400 seconds"):
        ThrottlePolicy(window=0)


# --- count first: concurrency gains nothing ------------------------------------------------

async def _at_once(make: Callable[[], Awaitable[httpx.Response]], n: int = N
                   ) -> list[httpx.Response]:
    return list(await asyncio.gather(*(make() for _ in range(n))))


@pytest.mark.rule("abuse.throttle.count-first")
async def test_concurrent_wrong_secrets_get_exactly_the_limit_of_refusals(
    app: Starlette, store: TokenStore, web: RegisteredClient
) -> None:
    async with from_address(app, ATTACKER) as attacker:
        answers = await _at_once(lambda: attacker.post(TOKEN_PATH, data=CC,
                                                       headers=basic("web", "guess")))
        right = await attacker.post(TOKEN_PATH, data=CC, headers=auth_of(web))
    refused = [r for r in answers if r.status_code == 401]
    slowed = [r for r in answers if r.status_code != 401]
    assert len(refused) == POLICY.client_failures
    for response in refused:
        assert_invalid_client(response)
    for response in [*slowed, right]:
        assert_slow_down(response)
    assert right.content == slowed[0].content  # a right secret looks like a wrong one
    assert await store.throttle.failures_from("client", "web", ATTACKER) == ((N, 60), (N, 60))
    async with from_address(app, VICTIM) as victim:
        assert (await victim.post(TOKEN_PATH, data=CC, headers=auth_of(web))).status_code == 200


@pytest.mark.rule("abuse.throttle.count-first", "abuse.throttle.reserve-first", "token.password")
async def test_concurrent_wrong_passwords_get_exactly_the_limit_of_refusals(
    store: TokenStore, pw: RegisteredClient
) -> None:
    """Each attempt reserves its place before the hook: exactly the limit reach it, the rest
    are refused before it and not counted, and every place is freed once answered."""
    calls = 0

    async def counted(username: str, password: str) -> str | None:
        nonlocal calls
        calls += 1
        return await users(username, password)

    app = build_app(store, verify_password=counted, throttle=POLICY)
    async with from_address(app, ATTACKER) as attacker:
        answers = await _at_once(lambda: attacker.post(
            TOKEN_PATH, data=password_form("bob", "guess"), headers=auth_of(pw)))
    refused = [r for r in answers if r.status_code == 400]
    assert len(refused) == calls == POLICY.password_failures
    for response in refused:
        assert_error(response, 400, "invalid_grant")
    for response in answers:
        if response.status_code != 400:
            assert_slow_down(response)
    assert await store.throttle.failures_from("password", "bob", ATTACKER) == ((5, 60), (5, 60))
    assert await redis_of(store).exists(store.keys.attempts("password", "bob", ATTACKER)) == 0


@pytest.mark.rule("abuse.throttle.count-first")
async def test_a_right_secret_checked_while_the_limit_filled_is_refused(
    app: Starlette, store: TokenStore, web: RegisteredClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The right guess read its counters before the wrong ones were counted; it is judged by
    what was counted when it was answered, or concurrency would test a guess for free."""
    held, gate = asyncio.Event(), asyncio.Event()
    original = store.read_for

    async def read_then_wait(*args: Any, **kwargs: Any) -> Any:
        read = await original(*args, **kwargs)
        if not held.is_set():
            held.set()
            await gate.wait()
        return read

    monkeypatch.setattr(store, "read_for", read_then_wait)
    async with from_address(app, ATTACKER) as attacker:
        right = asyncio.create_task(attacker.post(TOKEN_PATH, data=CC, headers=auth_of(web)))
        await held.wait()
        for _ in range(POLICY.client_failures):
            assert_invalid_client(await attacker.post(TOKEN_PATH, data=CC,
                                                      headers=basic("web", "guess")))
        gate.set()
        assert_slow_down(await right)


def _held_right_password() -> tuple[asyncio.Event, asyncio.Event, Any]:
    """A verify_password whose right answer for bob waits for ``gate`` once ``held`` is set."""
    held, gate = asyncio.Event(), asyncio.Event()

    async def slow_right(username: str, password: str) -> str | None:
        if password != "pw-bob":
            return None
        held.set()
        await gate.wait()
        return "user-bob"

    return held, gate, slow_right


@pytest.mark.rule("abuse.throttle.count-first", "abuse.throttle.no-lockout", "token.password")
async def test_a_right_password_checked_while_the_limit_filled_is_refused(
    store: TokenStore, pw: RegisteredClient
) -> None:
    """While bob's right password from ATTACKER is checked, ATTACKER fails once and other
    addresses bring bob's overall count to its threshold: every address is now allowed one
    failure, ATTACKER's is used, so the right password is refused as if sent after them.
    (The limit cannot fill from ATTACKER alone: the check in flight holds one of its places,
    see the next test.)"""
    held, gate, slow_right = _held_right_password()
    app = build_app(store, verify_password=slow_right, throttle=POLICY)
    async with from_address(app, ATTACKER) as attacker:
        right = asyncio.create_task(attacker.post(
            TOKEN_PATH, data=password_form("bob", "pw-bob"), headers=auth_of(pw)))
        await held.wait()
        assert_error(await attacker.post(TOKEN_PATH, data=password_form("bob", "guess"),
                                         headers=auth_of(pw)), 400, "invalid_grant")
        for address, times in (("198.51.100.67", 5), ("198.51.100.68", 5),
                               ("198.51.100.69", 1)):
            async with from_address(app, address) as other:
                for _ in range(times):
                    assert_error(await other.post(
                        TOKEN_PATH, data=password_form("bob", "guess"), headers=auth_of(pw)),
                        400, "invalid_grant")
        overall = POLICY.password_failures_overall
        assert await failures(store, "password", "bob") == (overall, 60)
        gate.set()
        assert_slow_down(await right)
    assert await store.list_tokens(user="user-bob") == (0, [])  # nothing was issued


@pytest.mark.rule("abuse.throttle.reserve-first", "token.password")
async def test_a_right_password_in_flight_holds_one_of_the_addresss_places(
    store: TokenStore, pw: RegisteredClient
) -> None:
    """Next to a right password being checked, one wrong password fewer is judged: the
    attempts an address has in flight or counted never exceed its allowance. The right one
    was within it and passes; a success frees its place and counts nothing."""
    held, gate, slow_right = _held_right_password()
    app = build_app(store, verify_password=slow_right, throttle=POLICY)
    wrong = password_form("bob", "guess")
    async with from_address(app, ATTACKER) as attacker:
        right = asyncio.create_task(attacker.post(
            TOKEN_PATH, data=password_form("bob", "pw-bob"), headers=auth_of(pw)))
        await held.wait()
        for _ in range(POLICY.password_failures - 1):
            assert_error(await attacker.post(TOKEN_PATH, data=wrong, headers=auth_of(pw)),
                         400, "invalid_grant")
        refused = await attacker.post(TOKEN_PATH, data=wrong, headers=auth_of(pw))
        assert_slow_down(refused)
        assert refused.headers["retry-after"] == "60"  # the window started at the 1st failure
        gate.set()
        issued = await right
        assert issued.status_code == 200, issued.text
        assert await store.throttle.failures_from("password", "bob", ATTACKER) == ((4, 60), (4, 60))
        assert_error(await attacker.post(TOKEN_PATH, data=wrong, headers=auth_of(pw)),
                     400, "invalid_grant")
        assert_slow_down(await attacker.post(TOKEN_PATH, data=wrong, headers=auth_of(pw)))
    _, tokens = await store.list_tokens(user="user-bob")
    assert [token.client_id for token in tokens] == ["pw"]


@pytest.mark.rule("abuse.throttle.reserve-first", "token.password")
async def test_a_burst_of_wrong_passwords_runs_the_hook_at_most_the_limit_of_times(
    store: TokenStore, pw: RegisteredClient
) -> None:
    """A refused address never reaches ``verify_password`` (its hashing is the costly part):
    fired at once, every attempt read a count of 0 before any failure was counted, so one
    address made the hook hash N passwords where the limit allows 5."""
    calls = finished = 0
    gate, progress = asyncio.Event(), asyncio.Event()

    async def held(username: str, password: str) -> str | None:
        nonlocal calls
        calls += 1
        progress.set()
        await gate.wait()
        return None

    app = build_app(store, verify_password=held, throttle=POLICY)
    async with from_address(app, ATTACKER) as attacker:
        async def attempt() -> httpx.Response:
            nonlocal finished
            response = await attacker.post(TOKEN_PATH, data=password_form("bob", "guess"),
                                           headers=auth_of(pw))
            finished += 1
            progress.set()
            return response

        tasks = [asyncio.create_task(attempt()) for _ in range(N)]
        while calls + finished < N:  # each attempt is inside the hook or answered
            progress.clear()
            await progress.wait()
        entered = calls
        gate.set()
        answers = await asyncio.gather(*tasks)
    assert entered <= POLICY.password_failures
    assert sum(r.status_code == 400 for r in answers) == entered
    for response in answers:
        if response.status_code != 400:
            assert_slow_down(response)
            # Refused while no failure was counted yet: ask again once those in flight end.
            assert response.headers["retry-after"] == "1"


# --- nobody can lock anybody else out ---------------------------------------------------------

async def _throttle_keys(store: TokenStore) -> list[bytes]:
    return [k async for k in redis_of(store).scan_iter(match=f"{store.keys.prefix}throttle:*")]


@pytest.mark.rule("abuse.throttle.no-lockout", "token.client-auth.failure")
async def test_wrong_secrets_from_one_address_leave_the_client_working_everywhere_else(
    app: Starlette, store: TokenStore
) -> None:
    """A host-chosen secret can be guessed, so it is counted, per client id and address."""
    victim = await confidential(store, "victim", client_secret="chosen-by-a-person")
    async with from_address(app, ATTACKER) as attacker:
        for _ in range(POLICY.client_failures):
            assert_invalid_client(await attacker.post(TOKEN_PATH, data=CC,
                                                      headers=basic("victim", "guess")))
        assert_slow_down(await attacker.post(TOKEN_PATH, data=CC,
                                             headers=basic("victim", "guess")))
        assert_slow_down(await attacker.post(TOKEN_PATH, data=CC, headers=auth_of(victim)))
    async with from_address(app, VICTIM) as holder:
        issued = await holder.post(TOKEN_PATH, data=CC, headers=auth_of(victim))
        assert issued.status_code == 200, issued.text
        seen = await holder.post(INTROSPECT_PATH, headers=auth_of(victim),
                                 data={"token": issued.json()["access_token"]})
    assert seen.status_code == 200 and seen.json()["active"] is True
    assert await store.throttle.failures_from("client", "victim", VICTIM) == ((0, 0), (11, 60))


@pytest.mark.rule("abuse.throttle", "token.client-auth.failure")
async def test_a_right_secret_is_judged_by_the_client_limits_not_the_password_limits(
    app: Starlette, store: TokenStore
) -> None:
    """Past the password allowance but short of the client's, a right secret is served."""
    assert POLICY.password_failures < POLICY.client_failures - 1
    holder_secret = await confidential(store, "holder", client_secret="chosen-by-a-person")
    async with from_address(app, VICTIM) as caller:
        for _ in range(POLICY.password_failures + 1):
            assert_invalid_client(await caller.post(TOKEN_PATH, data=CC,
                                                    headers=basic("holder", "guess")))
        issued = await caller.post(TOKEN_PATH, data=CC, headers=auth_of(holder_secret))
    assert issued.status_code == 200, issued.text
    assert (await store.resolve(issued.json()["access_token"])) is not None
    failures = POLICY.password_failures + 1
    assert await store.throttle.failures_from("client", "holder", VICTIM) == (
        (failures, POLICY.window), (failures, POLICY.window))


@pytest.mark.rule("abuse.throttle.no-lockout")
async def test_bogus_redemptions_naming_a_public_client_lock_none_of_its_users_out(
    app: Starlette, store: TokenStore
) -> None:
    """Codes, refresh tokens and verifiers cannot be guessed: their invalid_grant answers
    are not counted, so 31 bogus redemptions (the old limit was 30) change nothing."""
    await public(store)
    spa = {"client_id": "spa"}
    bogus = code_form("a" * 22 + "." + "b" * 43, **spa)
    async with from_address(app, ATTACKER) as attacker:
        answers = await _at_once(lambda: attacker.post(TOKEN_PATH, data=bogus), 31)
        for response in answers:
            assert_error(response, 400, "invalid_grant")
        for _ in range(31):
            assert_error(await attacker.post(TOKEN_PATH, data={
                "grant_type": "refresh_token", "refresh_token": "c" * 22 + "." + "d" * 43,
                **spa}), 400, "invalid_grant")
    assert await _throttle_keys(store) == []
    for address in (VICTIM, ATTACKER):  # even a user behind the attacker's address
        async with from_address(app, address) as user:
            code = await new_code(store, "spa")
            tokens = await user.post(TOKEN_PATH, data=code_form(code, **spa))
            assert tokens.status_code == 200, tokens.text
            again = await user.post(TOKEN_PATH, data={
                "grant_type": "refresh_token", "refresh_token": tokens.json()["refresh_token"],
                **spa})
            assert again.status_code == 200, again.text


@pytest.mark.rule("abuse.throttle.no-lockout", "token.password")
async def test_wrong_passwords_for_one_person_lock_out_neither_the_client_nor_the_person(
    app: Starlette, store: TokenStore, pw: RegisteredClient
) -> None:
    """30 wrong passwords from each of three addresses: each address is refused after its
    5th, refused attempts are not counted (the hook is not even called), and once the
    overall count reaches 12 each address is allowed one failure - none is locked out."""
    attackers = {ATTACKER: 5, "198.51.100.67": 5, "2001:db8:66::1": 2}
    for address, judged in attackers.items():
        async with from_address(app, address) as attacker:
            statuses = [(await attacker.post(
                TOKEN_PATH, data=password_form("alice", "guess"), headers=auth_of(pw)
            )).status_code for _ in range(30)]
            assert statuses == [400] * judged + [429] * (30 - judged)
            other_user = await attacker.post(TOKEN_PATH, data=password_form("bob", "pw-bob"),
                                             headers=auth_of(pw))
            assert other_user.status_code == 200, other_user.text
    assert (await failures(store, "password", "alice"))[0] == 12
    async with from_address(app, VICTIM) as person:
        own = await person.post(TOKEN_PATH, data=password_form("alice", "pw-alice"),
                                headers=auth_of(pw))
        assert own.status_code == 200, own.text
        assert_error(await person.post(TOKEN_PATH, data=password_form("alice", "typo"),
                                       headers=auth_of(pw)), 400, "invalid_grant")
        assert_slow_down(await person.post(TOKEN_PATH, data=password_form("alice", "pw-alice"),
                                           headers=auth_of(pw)))


@pytest.mark.rule("abuse.throttle.normalised-username", "token.password")
async def test_spellings_of_one_username_share_one_counter_until_the_window_ends(
    app: Starlette, store: TokenStore, pw: RegisteredClient, clock: FakeClock
) -> None:
    spellings = (" Bob ", "BOB", "\uff42\uff4f\uff42", "\u3000bob", "Bob")
    async with from_address(app, ATTACKER) as attacker:
        for name in spellings:
            assert_error(await attacker.post(TOKEN_PATH, data=password_form(name, "guess"),
                                             headers=auth_of(pw)), 400, "invalid_grant")
        assert_slow_down(await attacker.post(TOKEN_PATH, data=password_form("bob", "pw-bob"),
                                             headers=auth_of(pw)))
        assert await store.throttle.failures_from("password", "bob", ATTACKER) == ((5, 60), (5, 60))
        clock.advance(POLICY.window)
        later = await attacker.post(TOKEN_PATH, data=password_form("bob", "pw-bob"),
                                    headers=auth_of(pw))
    assert later.status_code == 200, later.text
