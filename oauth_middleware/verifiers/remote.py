"""Bounded JSON calls from a verifier to another server (RFC 8414 metadata, JWKS, RFC 7662).

The verifiers ask an issuer things over the network; an answer that does not
come, comes too slowly, is too large or is no JSON object means "cannot decide"
(:class:`StoreUnavailable`: the middleware answers 503, never 401). httpx, an
optional dependency (the ``jwt`` and ``introspection`` extras), because it is
async, bounds every phase with a timeout, streams a body so its size can be
capped before it is read whole, and keeps connections alive between calls.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from urllib.parse import urlsplit

import anyio
import httpx

from oauth_middleware.store import StoreUnavailable
from oauth_middleware.transport import is_loopback_ip

logger = logging.getLogger("oauth_middleware.verifiers.remote")

#: Seconds for each phase of a call: an outage is a 503 within about two seconds.
DEFAULT_TIMEOUT = 2.0


@dataclass(frozen=True, slots=True)
class Answer:
    """A remote answer: its status, headers, and its body as a JSON object (None if not one)."""

    status: int
    headers: httpx.Headers
    body: dict[str, object] | None


def check_url(name: str, url: str) -> str:
    """``url`` when it is absolute HTTPS (or HTTP to this machine, for development and
    tests); a token check must never travel in the clear (RFC 6750 §5.3)."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    local = host == "localhost" or is_loopback_ip(host)
    if not host or parts.scheme not in ("https", "http") or (
            parts.scheme == "http" and not local):
        raise ValueError(f"{name}={url!r} is wrong: an absolute https:// URL is needed "
                         "(http:// only to localhost)")
    return url


def client(timeout: float) -> httpx.AsyncClient:
    """The verifier's own client: no redirects followed (an issuer's documents live where
    it says, and a redirect could carry credentials elsewhere), bounded timeouts."""
    return httpx.AsyncClient(timeout=timeout, follow_redirects=False)


async def call(http: httpx.AsyncClient, request: httpx.Request, max_bytes: int) -> Answer:
    """Send ``request``; a transport failure or a body over ``max_bytes`` raises
    :class:`StoreUnavailable`. The log names the host only: the URL of an
    introspection call is configuration, but its body and headers hold secrets."""
    host = request.url.host
    try:
        with anyio.fail_after(_deadline(http.timeout)):
            return await _exchange(http, request, max_bytes, host)
    except TimeoutError:
        logger.warning("no whole answer from %r in time", host)
        raise StoreUnavailable() from None


def _deadline(timeout: httpx.Timeout) -> float | None:
    """The whole call's bound: httpx bounds each read, so a server sending a byte just
    before each read times out could hold a call (and everyone waiting on its lock or
    flight) for hours; the call as a whole gets the sum of its phases' bounds."""
    phases = (timeout.connect, timeout.read, timeout.write, timeout.pool)
    return None if any(phase is None for phase in phases) else sum(
        phase for phase in phases if phase is not None)


async def _exchange(http: httpx.AsyncClient, request: httpx.Request, max_bytes: int,
                    host: str) -> Answer:
    try:
        response = await http.send(request, stream=True)
        try:
            data = bytearray()
            async for chunk in response.aiter_bytes():
                data += chunk
                if len(data) > max_bytes:
                    logger.warning("answer from %r larger than %d bytes", host, max_bytes)
                    raise StoreUnavailable()
        finally:
            await response.aclose()
    except httpx.HTTPError as exc:
        logger.warning("no answer from %r: %s", host, type(exc).__name__)
        raise StoreUnavailable() from None
    return Answer(response.status_code, response.headers, _object(bytes(data)))


def _object(data: bytes) -> dict[str, object] | None:
    try:
        value = strict_loads(data)
    except (ValueError, RecursionError):
        return None
    return value if isinstance(value, dict) else None


def strict_loads(data: bytes | str) -> object:
    """JSON as RFC 8259 defines it: Python's reader also takes ``NaN`` and ``Infinity``,
    which would make an ``exp`` that never comes; and no member name repeated.

    Read as ``json.loads`` reads (bytes in any UTF encoding, a BOM in text refused) by one
    decoder made once: ``json.loads`` with options builds a new one on every call, which
    cost more than reading a DPoP proof's claims."""
    if isinstance(data, str):
        if data.startswith("\ufeff"):
            raise json.JSONDecodeError("Unexpected UTF-8 BOM", data, 0)
        return _STRICT.decode(data)
    return _STRICT.decode(data.decode(json.detect_encoding(data), "surrogatepass"))


def _no_constant(name: str) -> object:
    raise ValueError(f"{name} is not JSON")


def unique_members(pairs: list[tuple[str, object]]) -> dict[str, object]:
    """A JSON object whose names are unique (RFC 7159 §4 SHOULD; RFC 7519 §4 MUST for
    claims): a repeated name is read differently by different parsers, so refuse it."""
    value = dict(pairs)
    if len(value) != len(pairs):
        raise ValueError("duplicate member name")
    return value


_STRICT = json.JSONDecoder(object_pairs_hook=unique_members, parse_constant=_no_constant)
