"""What the rows need in Redis, created through the store API the apps use.

A confidential client allowed every grant, a long-lived access token, and pools
of single-use values (authorization codes, refresh tokens, access tokens to
revoke) written to files that wrk's Lua scripts read.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from oauth_middleware import TokenStore, register_client
from oauth_middleware.models import TOKEN_EXCHANGE, AuthorizationCode
from oauth_middleware.store import NewTokens

CLIENT_ID = "bench-client"
#: A client whose access tokens are JWTs (RFC 9068), for the ``our_jwt`` row.
JWT_CLIENT_ID = "bench-jwt-client"
#: A client whose ID tokens are ES256 (``token_code_oidc_es256``); the others' are RS256.
ES256_CLIENT_ID = "bench-es256-client"
#: OpenID Connect's scope: a code granted it is redeemed with an ID token.
OPENID = "openid"
REDIRECT_URI = "https://bench.example/cb"
SCOPE = "bench:read"
#: The resource (RFC 8707) the ``audience`` app protects, and its token's audience.
RESOURCE = "https://bench.example/me"
#: The origin the ``dpop`` app is told it is reached at: what its proofs' ``htu`` names.
DPOP_PUBLIC_URL = "https://bench.example"
#: Concurrent store calls while filling a pool.
CONCURRENCY = 64
#: Pooled grants per user: pools hold thousands, and one user keeps at most
#: ``max_grants_per_user`` live grants (past it, the first to expire are revoked).
PER_USER = 50
#: Numbers the pooled grants of every pool, so no user gets more than ``PER_USER``.
_serial = itertools.count()


@dataclass(frozen=True)
class Seeded:
    client_id: str
    client_secret: str
    token: str
    #: The foreign issuer's token (bench.foreign_jwt), set by the runner.
    foreign_jwt: str = ""
    #: One of our own RFC 9068 JWT access tokens (stored like any token).
    our_jwt: str = ""
    #: A token meant for ``RESOURCE`` (the ``audience`` row).
    audience_token: str = ""
    #: The secret of ``ES256_CLIENT_ID``.
    es256_secret: str = ""
    #: A token bound to :func:`dpop_key` (the ``dpop`` row, RFC 9449).
    dpop_token: str = ""


async def base(store: TokenStore) -> Seeded:
    """The client and one access token every read-only row uses."""
    await store._gateway.client.flushdb()  # the bench owns its Redis: start from nothing
    registered = await register_client(
        store, "Bench client", CLIENT_ID, REDIRECT_URI, "bench-admin",
        scopes_list=[SCOPE, OPENID], public=False,
        grant_types=["authorization_code", "refresh_token", "client_credentials",
                     TOKEN_EXCHANGE],
    )
    es256 = await register_client(
        store, "Bench ES256 client", ES256_CLIENT_ID, REDIRECT_URI, "bench-admin",
        scopes_list=[SCOPE, OPENID], public=False, id_token_signed_response_alg="ES256",
        grant_types=["authorization_code", "refresh_token"])
    if registered.client_secret is None or es256.client_secret is None:
        raise RuntimeError("a confidential client needs a secret")
    token = await store.issue(NewTokens(client_id=CLIENT_ID, subject="bench-user",
                                        scopes=frozenset({SCOPE}), lifetime=24 * 3600))
    bound = await store.issue(NewTokens(client_id=CLIENT_ID, subject="bench-user",
                                        scopes=frozenset({SCOPE}), lifetime=24 * 3600,
                                        audience=frozenset({RESOURCE})))
    dpop = await store.issue(NewTokens(client_id=CLIENT_ID, subject="bench-user",
                                       scopes=frozenset({SCOPE}), lifetime=24 * 3600,
                                       jkt=dpop_key().thumbprint()))
    return Seeded(CLIENT_ID, registered.client_secret, token.access_token,
                  our_jwt=await _our_jwt(store), audience_token=bound.access_token,
                  es256_secret=es256.client_secret, dpop_token=dpop.access_token)


@cache
def dpop_key() -> Any:
    """The bench client's DPoP key (ES256), one per bench run."""
    from joserfc.jwk import ECKey

    return ECKey.generate_key("P-256")


async def dpop_proofs(store: TokenStore, count: int, token: str) -> list[str]:
    """``count`` fresh proofs for ``GET /me`` with ``token`` (RFC 9449 §4.2), made now: a
    row runs for seconds, well inside the 60-second ``iat`` window."""
    import json
    import secrets
    import time

    from joserfc import jws

    from oauth_middleware.dpop import ath

    key = dpop_key()
    header = {"typ": "dpop+jwt", "alg": "ES256", "jwk": key.as_dict(private=False)}
    claims = {"htm": "GET", "htu": f"{DPOP_PUBLIC_URL}/me", "iat": int(time.time()),
              "ath": ath(token)}
    return [jws.serialize_compact(header, json.dumps(
        {**claims, "jti": secrets.token_urlsafe(12)}).encode(), key, algorithms=["ES256"])
        for _ in range(count)]


async def _our_jwt(store: TokenStore) -> str:
    """A JWT access token signed and stored as the server's token endpoint does it, with
    the bench apps' secret key (so their key ring is this one)."""
    from bench.apps import SECRET_KEY
    from oauth_middleware.server import AuthorizationServer

    client = (await register_client(
        store, "Bench JWT client", JWT_CLIENT_ID, (), None, scopes_list=[SCOPE], public=False,
        grant_types=["client_credentials"], token_lifetime=24 * 3600,
        access_token_format="jwt")).client
    server = AuthorizationServer(store=store, issuer="http://127.0.0.1/oauth",
                                 secret_key=SECRET_KEY, debug=True)
    grant = server.grants.token["client_credentials"]
    spec = grant.new_tokens(client, subject=JWT_CLIENT_ID, subject_type="client",
                            scopes=frozenset({SCOPE}), refresh=False)
    return (await store.issue(spec)).access_token


async def _many(make: Callable[[str], Awaitable[str]], count: int) -> list[str]:
    """``count`` values made ``CONCURRENCY`` at a time, ``PER_USER`` for each user."""
    sem = asyncio.Semaphore(CONCURRENCY)

    async def one(n: int) -> str:
        async with sem:
            return await make(f"bench-user-{n // PER_USER}")

    return list(await asyncio.gather(*(one(next(_serial)) for _ in range(count))))


async def codes(store: TokenStore, count: int, *, client_id: str = CLIENT_ID,
                openid: bool = False) -> list[str]:
    """Codes as ``auth/`` stores them; ``openid``: granted the openid scope, with the nonce
    and sign-in time an OpenID request records, so redeeming one signs an ID token."""
    scopes = frozenset({SCOPE, OPENID} if openid else {SCOPE})
    signed_in = time.time() if openid else None

    def record(user: str) -> AuthorizationCode:
        return AuthorizationCode(grant_id="", client_id=client_id, subject=user,
                                 redirect_uri=REDIRECT_URI, scopes=scopes,
                                 nonce="bench-nonce" if openid else None, auth_time=signed_in)

    return await _many(lambda user: store.create_code(record(user), lifetime=600), count)


async def oidc_codes(store: TokenStore, count: int) -> list[str]:
    return await codes(store, count, openid=True)


async def oidc_es256_codes(store: TokenStore, count: int) -> list[str]:
    return await codes(store, count, client_id=ES256_CLIENT_ID, openid=True)


async def _issued(store: TokenStore, refresh: bool, user: str) -> str:
    issued = await store.issue(NewTokens(client_id=CLIENT_ID, subject=user,
                                         scopes=frozenset({SCOPE}), refresh=refresh))
    value = issued.refresh_token if refresh else issued.access_token
    if value is None:
        raise RuntimeError("no refresh token issued")
    return value


async def refresh_tokens(store: TokenStore, count: int) -> list[str]:
    return await _many(lambda user: _issued(store, True, user), count)


async def access_tokens(store: TokenStore, count: int) -> list[str]:
    return await _many(lambda user: _issued(store, False, user), count)


async def pool(store: TokenStore, kind: str, size: int, seeded: Seeded) -> list[str]:
    """``size`` fresh single-use values of a row's ``pool`` kind (``bench.rows.Pool``)."""
    if kind == "proofs":
        return await dpop_proofs(store, size, seeded.dpop_token)
    make = {"codes": codes, "oidc_codes": oidc_codes, "oidc_es256_codes": oidc_es256_codes,
            "refresh": refresh_tokens, "access": access_tokens}[kind]
    return await make(store, size)


def write_pool(path: Path, values: list[str]) -> Path:
    path.write_text("".join(f"{v}\n" for v in values))
    return path
