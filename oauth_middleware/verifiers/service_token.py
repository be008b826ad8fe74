"""A resource server's own access token, by client credentials (RFC 6749 §4.4).

RFC 7662 §2.1 lets a protected resource authorize its introspection calls with
client authentication or with "a separate OAuth 2.0 access token". Our own
authorization server shows a Basic-authenticated client only that client's own
tokens, and every token only to a bearer token carrying its
``introspection_scope``: :class:`ServiceToken` fetches that token with the
client's credentials, keeps it until shortly before it expires, and fetches a
new one when the introspection endpoint no longer accepts it. Concurrent
callers wait for one fetch.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable

import anyio
import httpx

from oauth_middleware.store import StoreUnavailable
from oauth_middleware.verifiers import remote

logger = logging.getLogger("oauth_middleware.introspection")

#: A token is renewed this many seconds before the expiry its server announced.
RENEW_MARGIN = 30.0


class ServiceToken:
    """The current bearer token of one client at one token endpoint."""

    def __init__(self, token_url: str, scope: str | None, authorization: str, *,
                 http: Callable[[], httpx.AsyncClient], clock: Callable[[], float]) -> None:
        self.token_url = remote.check_url("token_url", token_url)
        self.scope = scope
        self._authorization = authorization
        self._http = http
        self._clock = clock
        self._token: str | None = None
        self._until = 0.0
        self._lock = anyio.Lock()

    def __repr__(self) -> str:
        return f"ServiceToken(token_url={self.token_url!r}, scope={self.scope!r})"

    async def get(self, stale: str | None = None) -> str:
        """The current token; ``stale`` is one the server refused, fetched anew."""
        async with self._lock:
            if self._token is None or self._token == stale or self._clock() >= self._until:
                await self._fetch()
            if self._token is None:
                raise StoreUnavailable()
            return self._token

    async def _fetch(self) -> None:
        self._token = None
        form = {"grant_type": "client_credentials"} | ({"scope": self.scope} if self.scope else {})
        request = self._http().build_request(
            "POST", self.token_url, data=form,
            headers={"Authorization": self._authorization, "Accept": "application/json"})
        now = self._clock()
        answer = await remote.call(self._http(), request, 64 * 1024)
        body = answer.body or {}
        token, lifetime = body.get("access_token"), _seconds(body.get("expires_in", 3600))
        if answer.status != 200 or not isinstance(token, str) or not token or \
                lifetime is None:
            logger.warning("no access token from %r: HTTP %d, error %r", request.url.host,
                           answer.status, str(body.get("error", ""))[:40])
            raise StoreUnavailable()
        self._token = token
        self._until = now + max(0.0, lifetime - RENEW_MARGIN)


def _seconds(value: object) -> float | None:
    """``expires_in`` (RFC 6749 §5.1) is a JSON number: ``3600`` or ``3600.0``; None for a
    boolean, NaN, infinity or an integer no float holds."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        seconds = float(value)
    except OverflowError:
        return None
    return seconds if math.isfinite(seconds) else None
