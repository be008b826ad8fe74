"""Calling the host app's hooks (``authenticate``, ``verify_password``, ``is_admin``).

A hook may be sync or async. An async hook is awaited on the event loop, as
the host wrote it. A sync hook runs in a worker thread (anyio's ``to_thread``):
it may hash a password with scrypt or query a blocking database, and while it
does, the loop keeps serving every other request of the worker. A sync hook
gets the same ``Request`` an async one would; by the time it runs, the server
has read everything it needs from the body, so the hook only reads what is
already there (headers, cookies, ``request.user``, ``request.scope``) — it
must not call the request's async methods. The default thread pool of anyio
applies (40 threads), shared with Starlette's sync endpoints.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable

from anyio import to_thread


def is_async(hook: Callable[..., object]) -> bool:
    """An ``async def`` function, a partial of one, or an object with an async ``__call__``."""
    target: object = hook
    while isinstance(target, functools.partial):
        target = target.func
    if inspect.iscoroutinefunction(target):
        return True
    return inspect.iscoroutinefunction(inspect.getattr_static(target, "__call__", None))


async def run_hook(hook: Callable[..., object], *args: object) -> object:
    """The hook's answer: awaited on the loop if async, computed in a worker thread if sync.

    A sync callable that returns an awaitable (a lambda around an async function)
    had its sync part run in the thread; the awaitable is then awaited here.
    """
    if is_async(hook):
        result = hook(*args)
    else:
        result = await to_thread.run_sync(functools.partial(hook, *args))
    if inspect.isawaitable(result):
        result = await result
    return result


async def call_hook(hook: Callable[..., object], *args: object) -> str | None:
    """Run a hook whose answer is a user id or None (``authenticate``, ``verify_password``).

    Fails closed: a bool or an empty string is nobody. A hook written as a check
    (``return password == stored``, ``request.user.is_authenticated and ...``)
    answers False for a stranger, and ``str(False)`` would sign in a user "False"
    (True would make every person one user "True").
    """
    result = await run_hook(hook, *args)
    if result is None or isinstance(result, bool) or result == "":
        return None
    return str(result)
