"""App factory for real-uvicorn tests: ``uvicorn --factory tests.server.token_server_app:build``.

The authorization server mounted at ``/oauth`` plus a protected ``/me``, on the
Redis named by ``REDIS_URL``; the issuer comes from ``OM_ISSUER``. Debug mode
because the tests talk plain HTTP on loopback. Tests seed clients through their
own store on the same Redis. The password grant knows one user, bob (``pw-bob``),
checked as a host would: a sync hook hashing with PBKDF2 in a worker thread, which
counts its calls per password in Redis (``hook-calls:<password>``) for the tests.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import os

import redis
from starlette.applications import Starlette

from oauth_middleware import TokenStore
from tests.server.token_harness import build_app

_SALT = b"token-server-app"
_BOB = hashlib.pbkdf2_hmac("sha256", b"pw-bob", _SALT, 20_000)


@functools.cache
def _counter() -> redis.Redis:
    return redis.Redis.from_url(os.environ["REDIS_URL"])


def verify_password(username: str, password: str) -> str | None:
    _counter().incr(f"hook-calls:{password}")
    hashed = hashlib.pbkdf2_hmac("sha256", password.encode(), _SALT, 20_000)
    return "user-bob" if username == "bob" and hmac.compare_digest(hashed, _BOB) else None


def build() -> Starlette:
    store = TokenStore.from_url(os.environ["REDIS_URL"])
    return build_app(store, issuer=os.environ["OM_ISSUER"], debug=True,
                     verify_password=verify_password)


def build_https() -> Starlette:
    """Outside debug mode, as behind a TLS-terminating proxy: with ``uvicorn --proxy-headers``
    a request is HTTPS only when it says ``X-Forwarded-Proto: https``, so plain HTTP is refused."""
    store = TokenStore.from_url(os.environ["REDIS_URL"])
    return build_app(store, issuer="https://auth.example/oauth")


def build_registration() -> Starlette:
    """Open dynamic registration (RFC 7591), 7 registrations per caller address."""
    from oauth_middleware.server.config import RegistrationPolicy

    store = TokenStore.from_url(os.environ["REDIS_URL"])
    return build_app(store, issuer=os.environ["OM_ISSUER"], debug=True,
                     registration=RegistrationPolicy(per_address=7))
