"""An issuer's signing keys (RFC 7517 §5), found by discovery (RFC 8414 §3, OIDC Discovery §4).

:class:`KeyCache` holds the public keys of one issuer for as long as its JWKS
answer's ``Cache-Control: max-age`` (or ``Expires``) says, clamped between
``min_ttl`` and ``max_ttl``: a key the issuer removed stops verifying tokens at
the latest ``max_ttl`` seconds later. A token naming an unknown ``kid`` (a key
just rotated in) fetches the set again, but at most once per ``refetch_interval``
seconds however many such tokens arrive: forged kids cannot turn the API into a
flood of calls to the issuer. Concurrent misses wait for one fetch.

Only asymmetric signing keys are kept (``RSA``, ``EC``, ``OKP``): an ``oct`` key in
a published set would let anyone reading it mint tokens. When no fresh set can
be had the cache raises :class:`StoreUnavailable` (503): stale keys are never
trusted past their bound, and an issuer outage is no reason to answer 401.
"""

from __future__ import annotations

import email.utils
import logging
import math
import re
from collections.abc import Callable
from urllib.parse import urlsplit, urlunsplit

import anyio
import httpx
from joserfc import jwk
from joserfc.errors import JoseError

from oauth_middleware.store import StoreUnavailable
from oauth_middleware.verifiers import remote

logger = logging.getLogger("oauth_middleware.verifiers.jwks")

PublicKey = jwk.RSAKey | jwk.ECKey | jwk.OKPKey
#: Key types a signature may be checked with: never ``oct`` (a shared secret, RFC 7518 §6.4).
ASYMMETRIC = frozenset({"RSA", "EC", "OKP"})
_MAX_AGE = re.compile(r"(?:^|,)\s*max-age\s*=\s*\"?(\d+)\"?\s*(?:,|$)", re.IGNORECASE)


def metadata_urls(issuer: str) -> tuple[str, ...]:
    """RFC 8414 §3.1 (the well-known name inserted before the issuer's path), OIDC
    Discovery §4 (appended to it: Keycloak, Auth0 and Entra ID answer only this one), and
    RFC 8414's name appended (where a server mounted under a path, ours included, answers).
    Each document must name exactly our issuer, wherever it was found."""
    parts = urlsplit(issuer)
    path = parts.path.rstrip("/")
    rfc8414 = urlunsplit((parts.scheme, parts.netloc,
                          "/.well-known/oauth-authorization-server" + path, "", ""))
    base = issuer.rstrip("/")
    urls = (rfc8414, base + "/.well-known/openid-configuration",
            base + "/.well-known/oauth-authorization-server")
    return tuple(dict.fromkeys(urls))


def ttl(headers: httpx.Headers, now: float, default: float) -> float:
    """Seconds the answer may be kept by its HTTP cache headers (RFC 9111 §5.2.2.1, §5.3);
    ``no-store``/``no-cache`` mean 0 (the caller's floor applies), none gives ``default``."""
    control = headers.get("cache-control", "")
    if re.search(r"no-store|no-cache", control, re.IGNORECASE):
        return 0.0
    found = _MAX_AGE.search(control)
    if found:
        return max(0.0, float(found.group(1)) - _age(headers))
    if re.search(r"max-age", control, re.IGNORECASE):
        return 0.0  # RFC 9111 §4.2.1: an invalid max-age (``-1``, ``1e3``) means stale
    expires = headers.get("expires")
    if expires:
        try:
            return max(0.0, email.utils.parsedate_to_datetime(expires).timestamp() - now)
        except (TypeError, ValueError, IndexError, OverflowError):  # year 99999999999...
            return 0.0
    return default


def _age(headers: httpx.Headers) -> float:
    """``Age`` (RFC 9111 §5.1: delta-seconds); one that is no such number counts as the
    whole ``max-age`` spent, so a garbled header shortens the keys' life, never a 500."""
    value = headers.get("age", "0").strip() or "0"
    return float(value) if value.isdigit() and value.isascii() else math.inf


def _same_scheme(uri: str, issuer: str) -> str:
    """A discovered ``jwks_uri`` of an https issuer is https too: ``check_url`` lets http
    reach this machine (for development), which an issuer's document must not use to
    send the verifier to a local service, or to keys fetched in the clear."""
    if urlsplit(issuer).scheme == "https" and urlsplit(uri).scheme != "https":
        raise ValueError("jwks_uri of an https issuer is not https")
    return uri


class KeyCache:
    """The public keys of one issuer, by ``kid``; see the module docstring."""

    def __init__(self, issuer: str, jwks_uri: str | None, *, http: Callable[[], httpx.AsyncClient],
                 clock: Callable[[], float], min_ttl: float, max_ttl: float,
                 default_ttl: float, refetch_interval: float, max_keys: int,
                 max_bytes: int) -> None:
        self.issuer = issuer
        self.jwks_uri = jwks_uri
        self._http = http
        self._clock = clock
        self._bounds = (min_ttl, max_ttl, default_ttl)
        self._refetch_interval = refetch_interval
        self._max_keys = max_keys
        self._max_bytes = max_bytes
        self._keys: dict[str, PublicKey] | None = None
        self._expires = -math.inf
        self._next_fetch = -math.inf
        self._lock = anyio.Lock()
        #: How many times the set was fetched (for tests and operators).
        self.fetches = 0

    async def key(self, kid: str | None) -> PublicKey | None:
        """The key ``kid`` names (the only key when the token names none and the set has one
        key); None when the issuer has no such key; :class:`StoreUnavailable` when the
        cache is stale and no fresh set could be fetched."""
        if (found := self.current(kid)) is not None:
            return found
        async with self._lock:
            now = self._clock()
            if now >= self._next_fetch and (not self._fresh() or self._find(kid) is None):
                self._next_fetch = now + self._refetch_interval
                await self._refresh(now)
            if not self._fresh():
                raise StoreUnavailable()
            return self._find(kid)

    def current(self, kid: str | None) -> PublicKey | None:
        """The key ``kid`` names while the set is fresh, else None (fetching is
        :meth:`key`'s): a token verified before is checked again without a coroutine."""
        return self._find(kid) if self._fresh() else None

    def _fresh(self) -> bool:
        return self._keys is not None and self._clock() < self._expires

    def _find(self, kid: str | None) -> PublicKey | None:
        keys = self._keys or {}
        if not kid:  # ``"kid": ""`` names no key either: kid-less keys are stored under ""
            return next(iter(keys.values())) if len(keys) == 1 else None
        return keys.get(kid)

    async def _refresh(self, now: float) -> None:
        """Fetch the set; on failure keep what there was (still bounded by its expiry)."""
        try:
            uri = self.jwks_uri or await self._discover()
            self.fetches += 1
            answer = await remote.call(self._http(), self._http().build_request("GET", uri),
                                       self._max_bytes)
        except StoreUnavailable:
            return
        keys = answer.body.get("keys") if answer.body is not None else None
        if answer.status != 200 or not isinstance(keys, list):
            logger.warning("JWKS of %r: HTTP %d, no key set", self.issuer, answer.status)
            return
        self.jwks_uri = uri
        self._keys = self._import(keys)
        min_ttl, max_ttl, default = self._bounds
        self._expires = now + min(max_ttl, max(min_ttl, ttl(answer.headers, now, default)))

    async def _discover(self) -> str:
        """The ``jwks_uri`` of the issuer's metadata, whose ``issuer`` must be exactly ours
        (RFC 8414 §3.3: else a document could name another issuer's keys)."""
        for url in metadata_urls(self.issuer):
            answer = await remote.call(self._http(), self._http().build_request("GET", url),
                                       self._max_bytes)
            body = answer.body
            if answer.status == 200 and body is not None:
                uri = body.get("jwks_uri")
                if body.get("issuer") != self.issuer or not isinstance(uri, str):
                    logger.warning("metadata at %r: wrong issuer or no jwks_uri", url)
                    raise StoreUnavailable()
                try:
                    return _same_scheme(remote.check_url("jwks_uri", uri), self.issuer)
                except ValueError:
                    logger.warning("metadata at %r: jwks_uri is not https", url)
                    raise StoreUnavailable() from None
        logger.warning("no metadata found for issuer %r", self.issuer)
        raise StoreUnavailable()

    def _import(self, entries: list[object]) -> dict[str, PublicKey]:
        """The usable signing keys, the first ``max_keys`` of them; a key without ``kid`` is
        kept under ``""`` (found only when it is the set's single key)."""
        keys: dict[str, PublicKey] = {}
        for entry in entries:
            if len(keys) >= self._max_keys:
                break
            if not isinstance(entry, dict) or entry.get("kty") not in ASYMMETRIC or \
                    entry.get("use", "sig") != "sig":
                continue
            try:
                key = jwk.import_key(entry)
            except (JoseError, ValueError, TypeError):
                continue
            kid = entry.get("kid", "")
            if isinstance(key, PublicKey) and isinstance(kid, str):
                keys.setdefault(kid, key)
        return keys
