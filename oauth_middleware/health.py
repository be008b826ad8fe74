"""``/healthz`` and ``/readyz``: liveness and readiness probes (Kubernetes, load balancers).

``/healthz`` answers 200 whenever the process serves requests at all: it reads
nothing, so a Redis outage never gets every pod restarted at once. ``/readyz``
answers 200 only when this process can serve: Redis answers within ``timeout``,
the store's Lua scripts are in Redis (loaded now if a restart lost them) and,
when the local cache is on, its invalidation connection is subscribed and live
(:data:`oauth_middleware.store.CHECKS`); else 503 with ``{"status": "unavailable",
"failed": "<check>"}``, naming the check and nothing else (no host, no error text).
Both are ``no-store``; any method but GET and HEAD is 405.
"""

from __future__ import annotations

import asyncio
import json
import logging

from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from oauth_middleware.store import CHECKS, StoreUnavailable, TokenStore

logger = logging.getLogger("oauth_middleware.health")

#: Seconds ``/readyz`` waits for all its checks together.
TIMEOUT = 1.0


class Health:
    """An ASGI app answering ``/healthz`` and ``/readyz`` under its mount point; or add
    :meth:`routes` to a Starlette app to serve them at its root."""

    def __init__(self, store: TokenStore, *, timeout: float = TIMEOUT) -> None:
        if not isinstance(store, TokenStore) or not 0 < timeout <= 10:
            raise ValueError("Health(store, timeout=...) needs a TokenStore and a timeout "
                             "in seconds between 0 and 10")
        self.store = store
        self.timeout = timeout
        self._failing: str | None = None

    def routes(self) -> list[Route]:
        """``/healthz`` and ``/readyz`` as routes (``app.router.routes.extend(...)``)."""
        return [Route("/healthz", _Probe(self.healthz)), Route("/readyz", _Probe(self.readyz))]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        path = scope["path"].rstrip("/")
        if path.endswith("/healthz"):
            await self.healthz(scope, receive, send)
        elif path.endswith("/readyz"):
            await self.readyz(scope, receive, send)
        else:
            await _answer(scope, send, 404, {"status": "not_found"})

    async def healthz(self, scope: Scope, receive: Receive, send: Send) -> None:
        await _answer(scope, send, 200, {"status": "ok"})

    async def readyz(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["method"] not in ("GET", "HEAD"):
            await _answer(scope, send, 405, {"status": "method_not_allowed"})
            return
        failed = await self.failing()
        if failed is None:
            await _answer(scope, send, 200, {"status": "ready"})
        else:
            await _answer(scope, send, 503, {"status": "unavailable", "failed": failed})

    async def failing(self) -> str | None:
        """The first check that fails now (None: ready); logged when that changes."""
        failed: str | None = None
        name = CHECKS[0]
        try:
            async with asyncio.timeout(self.timeout):
                for name in CHECKS:
                    if not await self.store.ready(name):
                        failed = name
                        break
        except (StoreUnavailable, TimeoutError):
            failed = name
        if failed != self._failing:
            if failed is None:
                logger.info("ready again")
            else:
                logger.warning("not ready: the %s check failed", failed)
            self._failing = failed
        return failed


class _Probe:
    """An ASGI app Starlette's ``Route`` mounts as it is (a bound method it would wrap as
    a request handler)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)


async def _answer(scope: Scope, send: Send, status: int, body: dict[str, str]) -> None:
    data = json.dumps(body).encode()
    headers = [(b"content-type", b"application/json"), (b"cache-control", b"no-store"),
               (b"content-length", str(len(data)).encode())]
    if status == 405:
        headers.append((b"allow", b"GET, HEAD"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body",
                "body": b"" if scope.get("method") == "HEAD" else data})
