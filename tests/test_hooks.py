"""Host hooks: a sync one runs in a worker thread, an async one is awaited on the loop.

A sync hook that blocks (scrypt, a blocking database) must not stall the worker:
each test holds a sync hook inside its first call on a ``threading.Event`` and
shows that another request through the same app completes meanwhile, then
releases it. The hook waits with a generous timeout only so that a regression
fails instead of hanging: on the loop thread it would block the test itself.
"""

from __future__ import annotations

import asyncio
import functools
import threading
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import httpx
import pytest
from anyio import to_thread
from starlette.applications import Starlette
from starlette.requests import Request

from oauth_middleware.hooks import call_hook, is_async, run_hook
from oauth_middleware.store import TokenStore
from tests.admin.harness import Admin, build_host
from tests.server.authorize_harness import WEB_REDIRECT, open_harness, read_page
from tests.server.token_harness import (
    TOKEN_PATH,
    assert_error,
    auth_of,
    build_app,
    confidential,
    http,
)
from tests.store_helpers import redis_of

#: Seconds a held hook waits for its release before giving up (a regression, not timing).
HOLD_LIMIT = 5


class HeldHook:
    """A sync hook whose first call blocks until released; every call notes its thread."""

    def __init__(self, answer: object) -> None:
        self.loop = asyncio.get_running_loop()
        self.loop_thread = threading.get_ident()
        self.entered = asyncio.Event()
        self.release = threading.Event()
        self.threads: list[int] = []
        self.released_in_time: bool | None = None
        self.answer = answer

    def __call__(self, *args: object) -> object:
        first = not self.threads
        self.threads.append(threading.get_ident())
        if first:
            self.loop.call_soon_threadsafe(self.entered.set)
            self.released_in_time = self.release.wait(timeout=HOLD_LIMIT)
        return self.answer

    async def while_held(self, first: Awaitable[httpx.Response],
                         other: Callable[[], Awaitable[httpx.Response]]
                         ) -> tuple[httpx.Response, httpx.Response]:
        """Start ``first``, wait until it is inside the hook, answer ``other``, release."""
        held = asyncio.ensure_future(first)
        await self.entered.wait()
        answered = await other()
        assert not held.done(), "the held request finished before its hook was released"
        self.release.set()
        response = await held
        assert self.released_in_time is True
        assert len(self.threads) == 2
        assert self.loop_thread not in self.threads
        return response, answered


async def test_a_sync_authenticate_hook_blocking_at_auth_leaves_the_loop_serving(
    store: TokenStore,
) -> None:
    hook = HeldHook("alice")
    async with open_harness(store, authenticate=hook) as harness:
        params = {"response_type": "code", "client_id": "web", "redirect_uri": WEB_REDIRECT,
                  "scope": "polls:read", "state": "s"}
        held, other = await hook.while_held(harness.get_auth(params, user=None),
                                            lambda: harness.get_auth(params, user=None))
    for response in (held, other):
        assert response.status_code == 200, response.text
        page = read_page(response.text)
        assert "alice" in page.text
        assert [c["value"] for c in page.checkboxes()] == ["polls:read"]


async def test_a_sync_verify_password_hook_blocking_leaves_the_loop_serving(
    store: TokenStore,
) -> None:
    hook = HeldHook("user-alice")
    app = build_app(store, verify_password=hook)
    pw = await confidential(store, "pw", grant_types=["password"])
    form = {"grant_type": "password", "username": "alice", "password": "pw", "scope": "read"}
    async with http(app) as client:
        def grant() -> Awaitable[httpx.Response]:
            return client.post(TOKEN_PATH, data=form, headers=auth_of(pw))
        held, other = await hook.while_held(grant(), grant)
        for response in (held, other):
            assert response.status_code == 200, response.text
            assert response.json()["scope"] == "read"
            me = await client.get("/me", headers={
                "Authorization": f"Bearer {response.json()['access_token']}"})
            assert me.json()["user"] == "user-alice"


@pytest.mark.parametrize("hook_name", ["is_admin", "authenticate"])
async def test_a_sync_admin_hook_blocking_leaves_the_loop_serving(
    store: TokenStore, hook_name: str,
) -> None:
    hook = HeldHook(True if hook_name == "is_admin" else "alice")
    host: Starlette = build_host(store, **{hook_name: hook})
    async with Admin(host, user="alice") as alice:
        held, other = await hook.while_held(alice.get("/admin/scopes/"),
                                            lambda: alice.get("/admin/scopes/"))
    for response in (held, other):
        assert response.status_code == 200, response.text
        assert "csrf_token" in response.text


async def test_an_async_hook_is_awaited_on_the_loop_thread() -> None:
    loop_thread = threading.get_ident()
    seen: list[int] = []

    async def authenticate(request: Any) -> str:
        seen.append(threading.get_ident())
        return "alice"

    assert is_async(authenticate)
    assert await call_hook(authenticate, object()) == "alice"
    assert seen == [loop_thread]


class AsyncCallable:
    """A hook written as an object with an ``async __call__``."""

    async def __call__(self, request: object) -> str:
        return "alice"


async def _authenticate(prefix: str, request: object) -> str:
    return prefix + "alice"


@pytest.mark.parametrize("hook", [
    AsyncCallable(), functools.partial(AsyncCallable()),
    functools.partial(_authenticate, ""), functools.partial(functools.partial(_authenticate), ""),
], ids=["async-call", "partial-of-async-call", "partial", "nested-partial"])
async def test_every_shape_of_async_hook_is_awaited_without_waiting_for_a_worker_thread(
    hook: Callable[[object], Awaitable[str]],
) -> None:
    """While every worker thread is busy (sync endpoints blocked), an async hook still runs."""
    limiter = to_thread.current_default_thread_limiter()
    saved = limiter.total_tokens
    limiter.total_tokens = 1
    try:
        async with limiter:  # the only worker thread is taken
            with anyio.fail_after(HOLD_LIMIT):  # a regression waits for it: fail, not hang
                assert await call_hook(hook, object()) == "alice"
    finally:
        limiter.total_tokens = saved
    assert is_async(hook)


async def test_a_sync_hook_returning_an_awaitable_runs_in_a_thread_and_is_awaited() -> None:
    loop_thread = threading.get_ident()
    seen: list[int] = []

    async def lookup() -> bool:
        return True

    def is_admin(request: Request) -> Awaitable[bool]:
        seen.append(threading.get_ident())
        return lookup()

    assert not is_async(is_admin)
    assert await run_hook(is_admin, object()) is True
    assert len(seen) == 1 and seen[0] != loop_thread


async def test_hook_answers_become_a_user_id_or_none() -> None:
    assert await call_hook(lambda: 42) == "42"
    assert await call_hook(lambda: None) is None


#: What a hook written as a yes/no answer, or one that found nobody, gives: never a user id.
NOT_A_USER: list[object] = [False, True, ""]


@pytest.mark.parametrize("answer", NOT_A_USER)
@pytest.mark.rule("auth.login.hook-answer-strict")
async def test_a_hook_answer_that_is_no_user_id_means_nobody(answer: object) -> None:
    assert await call_hook(lambda: answer) is None
    assert await call_hook(lambda: "alice") == "alice"


@pytest.mark.rule("auth.login.hook-answer-strict", "token.password")
async def test_a_yes_or_no_verify_password_hook_issues_no_token_for_a_user_named_false(
    store: TokenStore,
) -> None:
    """``verify_password`` written as a check (``return password == stored``) answers
    False for a wrong password: str(False) made that a token for user "False"."""
    app = build_app(store, verify_password=lambda username, password: password == "right")
    pw = await confidential(store, "pw", grant_types=["password"])
    async with http(app) as client:
        for password in ("wrong", "right"):
            response = await client.post(TOKEN_PATH, headers=auth_of(pw), data={
                "grant_type": "password", "username": "alice", "password": password})
            body = assert_error(response, 400, "invalid_grant")
            assert body["error_description"] == "The username or password is wrong."
    assert (await store.list_tokens(client_id="pw"))[1] == []
    for named in ("False", "True"):
        assert (await store.list_tokens(user=named))[1] == []


@pytest.mark.parametrize("answer", NOT_A_USER)
@pytest.mark.rule("auth.login.hook-answer-strict", "auth.login.before-errors")
async def test_an_authenticate_hook_answering_no_user_id_sends_the_visitor_to_log_in(
    store: TokenStore, answer: object,
) -> None:
    """``lambda request: request.user.is_authenticated and request.user.identity`` answers
    False for an anonymous visitor: that must not sign "False" in."""
    params = {"response_type": "code", "client_id": "web", "redirect_uri": WEB_REDIRECT,
              "scope": "polls:read", "state": "s"}
    async with open_harness(store, authenticate=lambda request: answer) as harness:
        response = await harness.get_auth(params, user=None)
    assert response.status_code == 303, response.text
    assert response.headers["location"].startswith("/login?next=%2Foauth%2Fauth%2F%3F")
    assert response.headers["cache-control"] == "no-store"
    assert [key async for key in redis_of(store).scan_iter(match=f"{store.keys.prefix}txn*")] == []
