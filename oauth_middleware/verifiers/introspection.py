"""Tokens of any authorization server, asked about by introspection (RFC 7662 §2).

:class:`IntrospectionVerifier` posts the token to the server's introspection
endpoint, authenticated as a confidential client with HTTP Basic (RFC 6749
§2.3.1: each half form-encoded first), and turns ``{"active": true, ...}`` into
an :class:`AccessToken`. A refresh token (``token_type`` other than an access
token's), an answer past its ``exp`` or before its ``nbf``, or one naming another
issuer or audience than configured, is refused like an inactive token. With
``token_url`` the calls carry instead a bearer token the client obtains there
(:mod:`.service_token`), as our own server requires for seeing every client's
tokens (its ``introspection_scope``).

Caching (RFC 7662 §4: a cache trades revocation delay for load): an active
answer is kept for at most ``cache_ttl`` seconds and never past the token's
``exp``, so a revoked token keeps working at most ``cache_ttl`` seconds here.
Inactive answers are not cached: a token never turns active again, so the only
gain would be against repeated garbage, and a cache filled with garbage would
push out the live tokens' entries. Concurrent requests with one token share one
call. The cache holds at most ``max_entries``
tokens (least recently used leave first), keyed by SHA-256 digest, never by the
token. An outage, a timeout, an error status (a wrong client secret
included: the verifier cannot decide) or an answer that is no RFC 7662 object
raises :class:`StoreUnavailable`: 503, never 401, never 500.
"""

from __future__ import annotations

import base64
import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from urllib.parse import quote

import anyio
import httpx

from oauth_middleware.models import AccessToken
from oauth_middleware.security import digest, fingerprint
from oauth_middleware.store import StoreUnavailable
from oauth_middleware.verifiers import remote
from oauth_middleware.verifiers.service_token import ServiceToken

logger = logging.getLogger("oauth_middleware.introspection")

#: ``token_type`` values of an access token (RFC 7662 §2.2 takes RFC 6749 §7.1's names).
ACCESS_TOKEN_TYPES = frozenset({"bearer", "access_token"})


class IntrospectionVerifier:
    """Resolve tokens through a remote RFC 7662 endpoint; see the module docstring."""

    def __init__(self, url: str, client_id: str, client_secret: str, *,
                 token_url: str | None = None, scope: str | None = None,
                 cache_ttl: float = 60, max_entries: int = 10_000,
                 issuer: str | None = None, audience: str | None = None,
                 max_token_size: int = 8192, timeout: float = 2.0,
                 http_client: httpx.AsyncClient | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.url = remote.check_url("url", url)
        if not client_id or not client_secret:
            raise ValueError("client_id and client_secret are needed: introspection requires "
                             "an authenticated confidential client (RFC 7662 §2.1)")
        if cache_ttl < 0 or max_entries < 0:
            raise ValueError("cache_ttl and max_entries are not negative (0 turns caching off)")
        pair = f"{quote(client_id, safe='')}:{quote(client_secret, safe='')}"
        self._authorization = "Basic " + base64.b64encode(pair.encode()).decode("ascii")
        self.client_id = client_id
        self.cache_ttl = cache_ttl
        self.max_entries = max_entries
        self.issuer = issuer
        self.audience = audience
        self.max_token_size = max_token_size
        self._timeout = timeout
        self._http = http_client
        self._clock = clock
        self._cache: OrderedDict[str, tuple[float, AccessToken]] = OrderedDict()
        #: One call per token at a time: concurrent requests with it wait for its answer.
        self._flights: dict[str, _Flight] = {}
        self._service = None if token_url is None else ServiceToken(
            token_url, scope, self._authorization, http=self._client, clock=clock)

    def __repr__(self) -> str:
        return f"IntrospectionVerifier(url={self.url!r}, client_id={self.client_id!r})"

    async def aclose(self) -> None:
        """Close the HTTP client the verifier opened (one passed in is the caller's)."""
        if self._http is not None:
            await self._http.aclose()

    async def resolve(self, token: str) -> AccessToken | None:
        """The token's record from the cache or the server; None when inactive."""
        if not token or len(token) > self.max_token_size:
            return None
        key = digest(token)
        now = self._clock()
        cached = self._cache.get(key)
        if cached is not None:
            if now < cached[0]:
                self._cache.move_to_end(key)
                return cached[1]
            del self._cache[key]
        flight = self._flights.get(key)
        if flight is None:
            flight = self._flights[key] = _Flight()
            try:
                flight.record = self._record(await self._ask(token), token, now)
                flight.failed = False
            finally:  # on an outage or a cancelled caller, those waiting get a 503
                del self._flights[key]
                flight.done.set()
            if flight.record is not None:
                self._keep(key, flight.record, now)
            return flight.record
        await flight.done.wait()
        if flight.failed:
            raise StoreUnavailable()
        return flight.record

    def _client(self) -> httpx.AsyncClient:
        if self._http is None:
            self._http = remote.client(self._timeout)
        return self._http

    async def _ask(self, token: str) -> dict[str, object]:
        """The server's answer about ``token``; with a service token, a 401 (it expired
        or was revoked early) fetches a new one and asks once more."""
        bearer = None if self._service is None else await self._service.get()
        answer = await self._post(token, bearer)
        if answer.status == 401 and self._service is not None:
            answer = await self._post(token, await self._service.get(stale=bearer))
        body = answer.body
        if answer.status != 200 or body is None or not isinstance(body.get("active"), bool):
            logger.warning("introspection at %r answered HTTP %d without an RFC 7662 object",
                           httpx.URL(self.url).host, answer.status)
            raise StoreUnavailable()
        return body

    async def _post(self, token: str, bearer: str | None) -> remote.Answer:
        authorization = self._authorization if bearer is None else f"Bearer {bearer}"
        request = self._client().build_request(
            "POST", self.url, data={"token": token, "token_type_hint": "access_token"},
            headers={"Authorization": authorization, "Accept": "application/json"})
        return await remote.call(self._client(), request, 64 * 1024)

    def _record(self, body: dict[str, object], token: str, now: float) -> AccessToken | None:
        """The live access token the answer describes, or None."""
        if body.get("active") is not True or not self._ours(body):
            return None
        kind, scope = body.get("token_type", "bearer"), body.get("scope", "")
        client, subject = body.get("client_id", ""), body.get("sub", body.get("username"))
        exp, nbf, iat = (_time(body.get(name)) for name in ("exp", "nbf", "iat"))
        if not (isinstance(kind, str) and kind.lower() in ACCESS_TOKEN_TYPES
                and isinstance(scope, str) and isinstance(client, str)
                and (subject is None or isinstance(subject, str))
                and exp != -1 and nbf != -1 and iat != -1):
            return None
        if (exp is not None and exp <= now) or (nbf or 0) > now or not (subject or client):
            return None
        own = not subject or subject == client
        return AccessToken(
            grant_id="", client_id=client, subject=client if own else str(subject),
            subject_type="client" if own else "user", scopes=frozenset(scope.split(" ")) - {""},
            issued_at=iat or 0.0, expires_at=exp, fingerprint=fingerprint(token),
            audience=_audience(body.get("aud")))

    def _ours(self, body: dict[str, object]) -> bool:
        """``iss`` and ``aud`` match when configured (RFC 7662 §4: a server introspecting
        for several resource servers may answer for a token meant for another)."""
        if self.issuer is not None and body.get("iss") != self.issuer:
            return False
        if self.audience is None:
            return True
        aud = body.get("aud")
        return aud == self.audience or (isinstance(aud, list) and self.audience in aud)

    def _keep(self, key: str, record: AccessToken, now: float) -> None:
        until = now + self.cache_ttl
        if record.expires_at is not None:
            until = min(until, record.expires_at)
        if until <= now or self.max_entries == 0:
            return
        self._cache[key] = (until, record)
        self._cache.move_to_end(key)
        while len(self._cache) > self.max_entries:
            self._cache.popitem(last=False)


class _Flight:
    """An introspection call under way, and its outcome for the requests waiting on it."""

    __slots__ = ("done", "failed", "record")

    def __init__(self) -> None:
        self.done = anyio.Event()
        self.record: AccessToken | None = None
        self.failed = True


def _time(value: object) -> float | None:
    """A NumericDate as a float, None when absent, -1 when it is no number (refused),
    an integer too large for a float (``1e400`` written out) included."""
    if value is None:
        return None
    if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0:
        try:
            return float(value)
        except OverflowError:
            return -1.0
    return -1.0


def _audience(aud: object) -> frozenset[str]:
    """The answer's ``aud`` (RFC 7662 §2.2) as the record's audience, so the middleware's
    own resource check (RFC 8707) sees what the token was meant for."""
    values = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []
    return frozenset(v for v in values if isinstance(v, str))
