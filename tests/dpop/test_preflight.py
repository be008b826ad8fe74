"""CORS preflights to a DPoP-only resource (RFC 9449 §7.1, Fetch §4.8): a browser asks to
send ``Authorization`` and ``DPoP``, and nothing answering it advertises ``Bearer``."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from oauth_middleware import OAuthMiddleware
from oauth_middleware.store import TokenStore
from tests.conftest import FakeClock
from tests.dpop.apps import PUBLIC_URL
from tests.dpop.holder import Holder
from tests.dpop.test_middleware import ALGS, bound_token, dpop
from tests.server.token_harness import http, me

ORIGIN = "https://spa.example"
#: What a browser sends before ``fetch(url, {headers: {Authorization, DPoP}})``.
PREFLIGHT = {"Origin": ORIGIN, "Access-Control-Request-Method": "GET",
             "Access-Control-Request-Headers": "authorization, dpop"}
CORS: dict[str, Any] = {"allow_origins": [ORIGIN], "allow_methods": ["GET"],
                        "allow_headers": ["Authorization", "DPoP"],
                        "expose_headers": ["DPoP-Nonce", "WWW-Authenticate"]}
DPOP_ONLY: dict[str, Any] = {"scopes": {"/me": []}, "public_url": PUBLIC_URL,
                             "require_dpop": True}


def _app(store: TokenStore, order: str, **options: Any) -> Starlette:
    app = Starlette(routes=[Route("/me", me)])
    # add_middleware puts the newest outermost.
    if order == "CORS outside":
        app.add_middleware(OAuthMiddleware, store=store, **DPOP_ONLY, **options)
        app.add_middleware(CORSMiddleware, **CORS)
    else:
        app.add_middleware(CORSMiddleware, **CORS)
        app.add_middleware(OAuthMiddleware, store=store, **DPOP_ONLY, **options)
    return app


@pytest.mark.rule("resource.cors-preflight", "dpop.resource.required")
@pytest.mark.parametrize("order", ["CORS outside", "OAuth outside"])
async def test_a_browser_preflight_for_authorization_and_dpop_is_answered_then_the_call_works(
        store: TokenStore, clock: FakeClock, order: str) -> None:
    holder = Holder()
    token = await bound_token(store, holder)
    async with http(_app(store, order)) as client:
        preflight = await client.options("/me", headers=PREFLIGHT)
        call = await client.get("/me", headers={"Origin": ORIGIN,
                                                **dpop(holder, token, clock)})
    assert preflight.status_code == 200, preflight.text
    assert preflight.headers["access-control-allow-origin"] == ORIGIN
    allowed = {h.strip() for h in preflight.headers["access-control-allow-headers"].split(",")}
    assert {"authorization", "dpop"} <= {h.lower() for h in allowed}
    assert "www-authenticate" not in preflight.headers
    assert call.status_code == 200, call.text
    assert call.json() == {"user": "alice", "scopes": ["read"]}


@pytest.mark.rule("resource.cors-preflight", "dpop.resource.required")
async def test_a_forged_preflight_to_a_dpop_only_view_gets_the_dpop_challenge_not_bearer(
        store: TokenStore) -> None:
    """A view answering ``OPTIONS`` itself is replaced by the refusal a request without a
    token gets, and on a DPoP-only resource that refusal names DPoP, as a GET's does."""
    calls: list[str] = []

    async def any_method(scope: Scope, receive: Receive, send: Send) -> None:
        calls.append(scope["method"])
        await JSONResponse({"user": "alice"})(scope, receive, send)

    app = OAuthMiddleware(any_method, store=store, **DPOP_ONLY)
    app.policy.bound = True  # explicit rules over an app without routes
    async with http(app) as client:
        preflight = await client.options("/me", headers=PREFLIGHT)
        anonymous = await client.get("/me")
    for answer in (preflight, anonymous):
        assert answer.status_code == 401, answer.text
        assert answer.headers["www-authenticate"] == f'DPoP realm="api", {ALGS}'
        assert answer.headers["cache-control"] == "no-store"
        assert answer.json() == {"error_description": "A DPoP-bound access token is required."}
        assert "bearer" not in answer.text.lower()
    assert calls == ["OPTIONS"]


@pytest.mark.rule("dpop.resource.nonce")
async def test_with_cors_outside_a_browser_script_can_read_the_nonce_it_is_asked_for(
        store: TokenStore, clock: FakeClock) -> None:
    """The guide's order: the CORS layer outside the middleware, so the middleware's own
    refusals carry the CORS headers too, and ``DPoP-Nonce`` is exposed to the script."""
    holder = Holder()
    token = await bound_token(store, holder)
    async with http(_app(store, "CORS outside", dpop_nonce=60)) as client:
        asked = await client.get("/me", headers={"Origin": ORIGIN, **dpop(holder, token, clock)})
        nonce = asked.headers["dpop-nonce"]
        call = await client.get("/me", headers={"Origin": ORIGIN,
                                                **dpop(holder, token, clock, nonce=nonce)})
    assert asked.status_code == 401 and asked.json()["error"] == "use_dpop_nonce"
    assert asked.headers["access-control-allow-origin"] == ORIGIN
    exposed = {h.strip().lower() for h in asked.headers["access-control-expose-headers"].split(",")}
    assert {"dpop-nonce", "www-authenticate"} <= exposed
    assert call.status_code == 200, call.text
    assert call.headers["access-control-allow-origin"] == ORIGIN
