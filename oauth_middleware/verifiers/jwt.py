"""JWT access tokens of any issuer (RFC 9068 §4), as a verifier for :class:`OAuthMiddleware`.

A token is accepted when all of these hold, and refused (``None``: 401
``invalid_token``) otherwise, malformed or oversized input included:

- at most ``max_token_size`` bytes, three base64url parts (a JWE's five are not
  ours), a JSON header and claims set with no name repeated (RFC 7519 §4);
- ``typ`` is ``at+jwt`` or ``application/at+jwt`` (RFC 9068 §4: an ID token or any
  other JWT of the same issuer is no access token); ``plain_jwt=True`` also
  takes ``JWT`` or no ``typ``, for issuers (Keycloak, Entra ID) that send those;
- ``alg`` is in ``algorithms``, which only ever holds asymmetric algorithms: never
  ``none``, never an HMAC whose "secret" would be the issuer's public key;
- no ``crit`` (no extension is understood) and no ``cty`` (a nested JWT, RFC 7519
  §5.2); ``jku``, ``x5u``, ``jwk`` and ``x5c`` are ignored: keys come only from
  the issuer's own JWKS (:mod:`.jwks`), chosen by ``kid``;
- the signature verifies with that key (joserfc, on ``cryptography``);
- a ``cnf.jkt`` (RFC 9449 §6.1) binds the token to a DPoP key: the middleware then
  refuses it as a bearer token (a verifier-only middleware keeps no replay cache,
  so it refuses such tokens altogether);
- ``iss`` is exactly ``issuer``; ``aud`` is, or is a list containing, one of
  ``audience`` (RFC 9068 §4, RFC 7519 §4.1.3: other audiences beside ours do not
  matter); ``exp`` is required; ``exp``, ``nbf`` and ``iat`` hold within ``leeway``.

A verdict is remembered (at most ``verified_cache`` tokens, by SHA-256 digest,
least recently used leaving first) until the token expires or the issuer's key
set is fetched again, so a repeated token costs a hash, not a signature check.

Identity (RFC 9068 §2.2): the client is ``client_id`` (or OIDC's ``azp``); the
subject is ``sub``. A token whose ``sub`` is missing or equals its client id, or
that Auth0 (``gty``) or Entra ID (``idtyp``) marks as a client's, is the client's own
(client_credentials, RFC 9068 §5) and becomes a ``ClientUser``, never a user of
that name. Scopes come from ``scope`` or ``scp`` (a
space-separated string or a list).
"""

from __future__ import annotations

import base64
import binascii
import re
import time
from collections import OrderedDict
from collections.abc import Callable, Collection

import httpx
from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jwt import JWTClaimsRegistry

from oauth_middleware.models import AccessToken
from oauth_middleware.security import digest, fingerprint
from oauth_middleware.verifiers import remote
from oauth_middleware.verifiers.jwks import KeyCache, PublicKey
from oauth_middleware.verifiers.remote import strict_loads

#: Asymmetric JWS algorithms (RFC 7518 §3, RFC 8037 §3.1) a verifier may allow.
ASYMMETRIC_ALGORITHMS = frozenset({"RS256", "RS384", "RS512", "PS256", "PS384", "PS512",
                                   "ES256", "ES384", "ES512", "EdDSA"})
AT_JWT = frozenset({"at+jwt", "application/at+jwt"})
PLAIN_JWT = frozenset({"jwt", "application/jwt"})
_PART = re.compile(r"[A-Za-z0-9_-]+")


class JWTVerifier:
    """Accept JWT access tokens of one issuer, for one API; see the module docstring."""

    def __init__(self, *, issuer: str, audience: str | Collection[str],
                 jwks_uri: str | None = None, algorithms: Collection[str] = ("RS256", "ES256"),
                 leeway: float = 30, plain_jwt: bool = False, max_token_size: int = 8192,
                 min_ttl: float = 60, max_ttl: float = 3600, default_ttl: float = 300,
                 refetch_interval: float = 30, max_keys: int = 32, verified_cache: int = 10_000,
                 timeout: float = 2.0,
                 http_client: httpx.AsyncClient | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.issuer = remote.check_url("issuer", issuer)
        self.audience = _audiences(audience)
        self.algorithms = _algorithms(algorithms)
        if not 0 <= leeway <= 300:
            raise ValueError(f"leeway={leeway!r} is wrong: seconds of clock skew, 0 to 300")
        if not 0 < refetch_interval <= min_ttl <= max_ttl:
            raise ValueError("need 0 < refetch_interval <= min_ttl <= max_ttl (seconds)")
        self.leeway = leeway
        self.typs = AT_JWT | PLAIN_JWT if plain_jwt else AT_JWT
        self.plain_jwt = plain_jwt
        self.max_token_size = max_token_size
        self._timeout = timeout
        self._http = http_client
        self._clock = clock
        self.verified_cache = verified_cache
        self._verified: OrderedDict[str, tuple[AccessToken, str | None, PublicKey]] = \
            OrderedDict()
        self.keys = KeyCache(issuer, remote.check_url("jwks_uri", jwks_uri) if jwks_uri else None,
                             http=self._client, clock=clock, min_ttl=min_ttl, max_ttl=max_ttl,
                             default_ttl=default_ttl, refetch_interval=refetch_interval,
                             max_keys=max_keys, max_bytes=256 * 1024)

    def __repr__(self) -> str:
        return f"JWTVerifier(issuer={self.issuer!r}, audience={sorted(self.audience)!r})"

    def _client(self) -> httpx.AsyncClient:
        if self._http is None:
            self._http = remote.client(self._timeout)
        return self._http

    async def aclose(self) -> None:
        """Close the HTTP client the verifier opened (one passed in is the caller's)."""
        if self._http is not None:
            await self._http.aclose()

    async def resolve(self, token: str) -> AccessToken | None:
        """The token's :class:`AccessToken`, or None; ``StoreUnavailable`` when the issuer's
        keys cannot be had (the middleware's 503).

        A token verified before is found by its SHA-256 digest and accepted again without
        a signature check while it has not expired and the key that verified it is still
        the issuer's current one (a refetched set drops every earlier verdict).
        """
        if len(token) > self.max_token_size:
            return None
        seen = digest(token)
        hit = self._verified.get(seen)
        if hit is not None:
            record, kid, key = hit
            if not record.is_expired(self._clock() - self.leeway) and (
                    self.keys.current(kid) is key or await self.keys.key(kid) is key):
                self._verified.move_to_end(seen)
                return record
            self._verified.pop(seen, None)
        return await self._verify(token, seen)

    async def _verify(self, token: str, seen: str) -> AccessToken | None:
        header = self._header(token)
        if header is None:
            return None
        kid = header.get("kid")
        if not isinstance(kid, str | None):
            return None
        key = await self.keys.key(kid)
        if key is None:
            return None
        try:
            signed = jws.deserialize_compact(token, key, algorithms=[str(header["alg"])])
            claims = strict_loads(signed.payload)
            if not isinstance(claims, dict):
                return None
            self._registry().validate(claims)
        except (JoseError, ValueError, TypeError, RecursionError):
            return None
        record = _access_token(claims, token)
        if record is not None and self.verified_cache > 0:
            self._verified[seen] = (record, kid, key)
            while len(self._verified) > self.verified_cache:
                self._verified.popitem(last=False)
        return record

    def _header(self, token: str) -> dict[str, object] | None:
        """The protected header when the token's shape and header allow a signature check."""
        parts = token.split(".")
        if len(token) > self.max_token_size or len(parts) != 3 or not all(
                _PART.fullmatch(part) for part in parts):
            return None
        try:
            header = strict_loads(_b64decode(parts[0]))
        except (ValueError, RecursionError):
            return None
        if not isinstance(header, dict):
            return None
        alg = header.get("alg")
        if not isinstance(alg, str) or alg not in self.algorithms:
            return None  # a list or object as ``alg`` is no name (and no set member)
        typ = header.get("typ")
        typ_ok = (typ is None and self.plain_jwt) or (
            isinstance(typ, str) and typ.lower() in self.typs)
        if not typ_ok or "crit" in header or "cty" in header:
            return None
        return header

    def _registry(self) -> JWTClaimsRegistry:
        now = self._clock()
        return JWTClaimsRegistry(
            now=int(now), leeway=int(self.leeway),
            iss={"essential": True, "value": self.issuer},
            aud={"essential": True, "values": sorted(self.audience)},
            exp={"essential": True},
        )


def _b64decode(part: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))
    except (binascii.Error, ValueError):
        raise ValueError("not base64url") from None


def _audiences(audience: str | Collection[str]) -> frozenset[str]:
    values = frozenset({audience} if isinstance(audience, str) else audience)
    if not values or not all(isinstance(v, str) and v for v in values):
        raise ValueError(f"audience={audience!r} is wrong: this API's identifier, e.g. "
                         "'https://api.example.com' (a non-empty string or list of them)")
    return values


def _algorithms(algorithms: Collection[str]) -> frozenset[str]:
    values = frozenset(algorithms)
    wrong = sorted(values - ASYMMETRIC_ALGORITHMS)
    if not values or wrong:
        raise ValueError(f"algorithms={sorted(values)!r} is wrong: only asymmetric algorithms "
                         f"({', '.join(sorted(ASYMMETRIC_ALGORITHMS))}); never none or HS*")
    return values


def _scopes(claims: dict[str, object]) -> frozenset[str] | None:
    """``scope`` (RFC 9068 §2.2.3.1, separated by spaces only: RFC 6749 §3.3) or ``scp``
    (string or list); other whitespace is part of a scope, never a separator."""
    value = claims.get("scope", claims.get("scp", ""))
    if isinstance(value, str):
        return frozenset(value.split(" ")) - {""}
    if isinstance(value, list) and all(isinstance(v, str) and v and " " not in v
                                       for v in value):
        return frozenset(value)
    return None


def _client_grant(claims: dict[str, object]) -> bool:
    """The markers issuers put on a client's own token whose ``sub`` is no client id:
    Auth0's ``gty`` (``sub`` is ``<client>@clients``) and Entra ID's ``idtyp``."""
    return claims.get("gty") == "client-credentials" or claims.get("idtyp") == "app"


def _audience(claims: dict[str, object]) -> frozenset[str]:
    """``aud`` as the record's audience (RFC 7519 §4.1.3), so the middleware's own
    resource check (RFC 8707) sees what the token was meant for."""
    aud = claims.get("aud")
    values = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []
    return frozenset(v for v in values if isinstance(v, str))


def _numeric(value: object) -> float | None:
    """A NumericDate as a float; None for one no float holds (``1e400`` as an integer)."""
    try:
        return float(value) if isinstance(value, int | float) else None
    except OverflowError:
        return None


def _access_token(claims: dict[str, object], token: str) -> AccessToken | None:
    client = claims.get("client_id", claims.get("azp", ""))
    if "azp" in claims and claims["azp"] != client:
        return None  # two different clients named: whichever we chose, one would be wrong
    subject = claims.get("sub")
    jti = claims.get("jti", "")
    iat = claims.get("iat", 0)
    scopes, expires = _scopes(claims), _numeric(claims["exp"])
    if expires is None or not isinstance(client, str) or not isinstance(jti, str) or \
            scopes is None or (subject is not None and not isinstance(subject, str)):
        return None
    if not subject and not client:
        return None  # nobody: neither a user nor a client
    own = not subject or subject == client or _client_grant(claims)
    return AccessToken(
        grant_id=jti, client_id=client, subject=client if own else str(subject),
        subject_type="client" if own else "user", scopes=scopes,
        issued_at=_numeric(iat) or 0.0, expires_at=expires,
        fingerprint=fingerprint(token), audience=_audience(claims), jkt=_bound_key(claims),
    )


def _bound_key(claims: dict[str, object]) -> str:
    """``cnf.jkt`` (RFC 9449 §6.1): a token bound to a DPoP key is refused as a bearer token.
    A ``cnf`` naming another kind of key (mTLS ``x5t#S256``) gives none: not ours to check."""
    cnf = claims.get("cnf")
    jkt = cnf.get("jkt") if isinstance(cnf, dict) else None
    return jkt if isinstance(jkt, str) else ""
