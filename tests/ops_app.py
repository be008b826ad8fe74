"""An app with everything of docs/operating.md on: metrics, probes, request ids, JSON logs.

``build_ops_app`` is used in process by tests/test_metrics.py; ``uvicorn_ops_app`` is the
factory for ``uvicorn --factory tests.ops_app:uvicorn_ops_app`` (tests/test_health.py).
"""

from __future__ import annotations

import asyncio
import logging
import os
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route

from oauth_middleware import OAuthMiddleware, TokenStore
from oauth_middleware.health import Health
from oauth_middleware.logs import configure_logging
from oauth_middleware.metrics.prometheus import PrometheusMetrics
from oauth_middleware.request_id import RequestIdMiddleware
from oauth_middleware.server import AuthorizationServer, ThrottlePolicy

ISSUER = "https://auth.example/oauth"
#: Two wrong secrets per address and client, then 429.
THROTTLE = ThrottlePolicy(client_failures=2, client_failures_overall=100)
app_logger = logging.getLogger("oauth_middleware.tests.ops_app")


async def me(request: Request) -> Response:
    app_logger.info("served /me")
    return JSONResponse({"user": request.user.identity})


async def public(request: Request) -> Response:
    return JSONResponse({"public": True})


def build_ops_app(store: TokenStore, **server_options: Any) -> Starlette:
    metrics = PrometheusMetrics(store)
    server = AuthorizationServer(store=store, issuer=ISSUER, secret_key=b"k" * 32,
                                 throttle=THROTTLE, metrics=metrics, **server_options)
    app = Starlette(routes=[Mount("/oauth", server), Route("/me", me),
                            Route("/public", public), Route("/hello/{number:int}", hello),
                            Mount("/metrics", metrics.app()),
                            *Health(store).routes()])
    app.add_middleware(OAuthMiddleware, store=store, scopes={"/me": "read"}, metrics=metrics)
    app.add_middleware(RequestIdMiddleware)
    app.state.metrics = metrics
    return app


def uvicorn_ops_app() -> Starlette:
    configure_logging(json=True, level=logging.INFO)
    return build_ops_app(TokenStore.from_url(os.environ["REDIS_URL"]), debug=True)


async def hello(request: Request) -> Response:
    """Logs twice around a yield to the loop, so concurrent requests interleave their lines."""
    number = request.path_params["number"]
    app_logger.info("hello %s", number)
    await asyncio.sleep(0)
    app_logger.info("bye %s", number)
    return JSONResponse({"number": number})
