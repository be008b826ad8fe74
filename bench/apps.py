"""The apps under load: one Starlette route, bare and behind the middleware (``uvicorn --factory``).

``bare`` is the route alone, the baseline every row is compared with. ``protected``
is the same route behind :class:`OAuthMiddleware` with the authorization server
mounted at ``/oauth`` (an OpenID Provider: a code granted ``openid`` is redeemed with an
ID token); ``cached`` is the same with the opt-in local token cache. ``jwt``
is the route behind the middleware with :class:`JWTVerifier` for a foreign issuer and
no Redis at all. ``audience`` is ``protected`` with a resource identifier and
``require_audience=True`` (RFC 8707: the token's audience is checked too); ``metrics``
is ``protected`` with Prometheus metrics on. ``dpop`` is
``protected`` told its public URL, for DPoP-bound tokens (RFC 9449 §7: a proof is verified
and its ``jti`` remembered on every request).
The app reads ``REDIS_URL`` and the server's issuer from the environment.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route

from bench.seed import CLIENT_ID, DPOP_PUBLIC_URL, RESOURCE
from oauth_middleware import OAuthMiddleware, TokenStore
from oauth_middleware.server import AuthorizationServer, ExchangeClient, TokenExchangePolicy
from oauth_middleware.server.oidc import OpenIDProvider

#: A fixed key so that every worker of one bench run agrees (loopback, debug only).
SECRET_KEY = "bench-only-secret-key-not-for-production-use"


async def hello(request: Request) -> Response:
    user = request.user.identity if request.user.is_authenticated else None
    return JSONResponse({"hello": "world", "user": user})


async def bare_hello(request: Request) -> Response:
    return JSONResponse({"hello": "world", "user": None})


def bare() -> Starlette:
    return Starlette(routes=[Route("/me", bare_hello, methods=["GET", "POST"])])


def _protected(local_cache: bool, audited: bool = False, *, metrics: bool = False,
               **options: Any) -> Starlette:
    url = os.environ["REDIS_URL"]
    store = (TokenStore.from_url(url, local_cache=True) if local_cache
             else TokenStore.from_url(url))
    # Imported and passed only for the rows that use them: the plain rows then run on a
    # checkout of an older commit too, for a figure against the endpoint as it was then
    # (docs/performance.md, "Against the token endpoint the issue was filed on").
    extras: dict[str, Any] = {}
    if metrics:
        from oauth_middleware.metrics.prometheus import PrometheusMetrics
        extras["metrics"] = PrometheusMetrics(store)
    if audited:
        from oauth_middleware.audit import AuditTrail
        extras["audit"] = AuditTrail(store)
    # token exchange (RFC 8693) for the bench client: its own tokens, by impersonation
    exchange = TokenExchangePolicy(clients={CLIENT_ID: ExchangeClient(delegation=False)})
    server = AuthorizationServer(store=store, issuer=os.environ["BENCH_ISSUER"],
                                 secret_key=SECRET_KEY, debug=True, openid=OpenIDProvider(),
                                 token_exchange=exchange, **extras)
    app = Starlette(routes=[
        Route("/me", hello, methods=["GET", "POST"]),
        Mount("/oauth", app=server),
    ])
    app.add_middleware(OAuthMiddleware, store=store, scopes={"/me": ["bench:read"]},
                       debug=True, **({"metrics": extras["metrics"]} if metrics else {}),
                       **options)
    return app


def protected() -> Starlette:
    return _protected(local_cache=False)


def audited() -> Starlette:
    """The protected app with an audit trail (events to the stream and the logger)."""
    return _protected(local_cache=False, audited=True)


def audience() -> Starlette:
    return _protected(local_cache=False, resource=RESOURCE, require_audience=True)


def dpop() -> Starlette:
    return _protected(local_cache=False, public_url=DPOP_PUBLIC_URL)


def cached() -> Starlette:
    return _protected(local_cache=True)


def metrics() -> Starlette:
    """``protected`` with Prometheus metrics counting (the ``metrics`` extra)."""
    return _protected(local_cache=False, metrics=True)


def jwt() -> Starlette:
    """The app serves its issuer's JWKS itself (loopback, fetched once, then cached)."""
    from bench import foreign_jwt  # joserfc: only this app needs the jwt extra
    from oauth_middleware import JWTVerifier

    keys = foreign_jwt.public_jwks(Path(os.environ["BENCH_JWT_KEY"]))

    async def jwks(request: Request) -> Response:
        return JSONResponse(keys, headers={"Cache-Control": "max-age=3600"})

    base = os.environ["BENCH_ISSUER"].removesuffix("/oauth")
    verifier = JWTVerifier(issuer=foreign_jwt.ISSUER, audience=foreign_jwt.AUDIENCE,
                           jwks_uri=base + "/jwks")
    app = Starlette(routes=[Route("/me", hello, methods=["GET", "POST"]),
                            Route("/jwks", jwks)])
    app.add_middleware(OAuthMiddleware, verifier=verifier, scopes={"/me": ["bench:read"]},
                       debug=True)
    return app
