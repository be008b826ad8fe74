"""Issue 15, "Done when" #1: Authlib's OpenID Connect client signs in against the demo.

The demo runs as ``scripts/demo`` runs it (``python -m demo``, real uvicorn), on the
embedded store and on the suite's redis-server. The relying party is Authlib's own
Starlette integration, nothing written here: it reads the discovery document, sends code
+ PKCE + a nonce it made, redeems the code, fetches the JWKS and validates the ID token
(signature, iss, aud, exp, iat, nonce, at_hash), asks UserInfo, and signs out through
``end_session/`` with its ``logout_redirect``. The person's part (login form, consent
page) is done over HTTP as a browser does it; the relying party's browser keeps its own
cookies, apart from the provider's.
"""

from __future__ import annotations

import re
import time
import warnings
from collections.abc import AsyncIterator, Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import redis
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.demo.harness import DEMO_DB, WEB_SECRET, consent, decide, location, login
from tests.redis_process import RedisProcess
from tests.servers import DemoProcess

with warnings.catch_warnings():
    import authlib.deprecate

    warnings.simplefilter("ignore", authlib.deprecate.AuthlibDeprecationWarning)
    from authlib.integrations.starlette_client import OAuth

SCOPE = "openid profile email phone"
ALICE = {"sub": "alice", "name": "Alice Liddell", "given_name": "Alice",
         "family_name": "Liddell", "preferred_username": "alice",
         "email": "alice@example.com", "email_verified": True,
         "phone_number": "+44 1865 000000", "phone_number_verified": False}


@pytest.fixture(params=["embedded", "redis"])
def running_demo(request: pytest.FixtureRequest) -> Iterator[DemoProcess]:
    """The demo on the embedded store (no REDIS_URL), or on the suite's redis-server."""
    env = {"DEMO_CLIENT_SECRET": WEB_SECRET}
    if request.param == "redis":
        server: RedisProcess = request.getfixturevalue("redis_server")
        env["REDIS_URL"] = server.url.rsplit("/", 1)[0] + f"/{DEMO_DB}"
        with redis.Redis.from_url(env["REDIS_URL"]) as db:
            db.flushdb()  # no consent remembered by an earlier test
    with DemoProcess(env=env, unset=("REDIS_URL", "OAUTH_SECRET_KEY")) as process:
        yield process


def relying_party(demo: DemoProcess) -> Starlette:
    """A separate web app whose OpenID Connect client is Authlib's, registered as demo-web."""
    oauth = OAuth()
    oauth.register(
        "demo", client_id="demo-web", client_secret=WEB_SECRET,
        server_metadata_url=f"{demo.url}/oauth/.well-known/openid-configuration",
        client_kwargs={"scope": SCOPE, "code_challenge_method": "S256"})
    rp: Any = oauth.demo

    async def sign_in(request: Request) -> Response:
        response: Response = await rp.authorize_redirect(
            request, f"{demo.url}/client/oidc/callback", **request.query_params)
        return response

    async def callback(request: Request) -> Response:
        token = await rp.authorize_access_token(request)
        request.session["id_token"] = token["id_token"]
        info = await rp.userinfo(token=token)
        return JSONResponse({"claims": dict(token["userinfo"]), "userinfo": dict(info)})

    async def sign_out(request: Request) -> Response:
        response: Response = await rp.logout_redirect(
            request, post_logout_redirect_uri=f"{demo.url}/client/oidc/signed-out",
            id_token_hint=request.session["id_token"])
        return response

    async def signed_out(request: Request) -> Response:
        return JSONResponse(await rp.validate_logout_response(request))

    return Starlette(routes=[
        Route("/rp/sign-in", sign_in), Route("/client/oidc/callback", callback),
        Route("/rp/sign-out", sign_out), Route("/client/oidc/signed-out", signed_out),
    ], middleware=[Middleware(SessionMiddleware, secret_key="rp-session-key-0123456789abcdef")])


@pytest.fixture
async def browsers(running_demo: DemoProcess
                   ) -> AsyncIterator[tuple[httpx.AsyncClient, httpx.AsyncClient]]:
    """(the relying party's browser, the provider's browser): one person, two sites."""
    rp = httpx.ASGITransport(app=relying_party(running_demo))
    async with httpx.AsyncClient(transport=rp, base_url=running_demo.url) as at_rp, \
            httpx.AsyncClient(base_url=running_demo.url) as at_op:
        yield at_rp, at_op


def _path(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


async def test_authlibs_openid_client_signs_in_validates_everything_and_signs_out(
    running_demo: DemoProcess, browsers: tuple[httpx.AsyncClient, httpx.AsyncClient],
) -> None:
    at_rp, at_op = browsers
    issuer = f"{running_demo.url}/oauth"
    started = await at_rp.get("/rp/sign-in")
    assert started.status_code == 302
    asked = parse_qs(urlsplit(started.headers["location"]).query)
    assert asked["scope"] == [SCOPE] and asked["code_challenge_method"] == ["S256"]
    assert asked["nonce"][0] and asked["code_challenge"][0]
    signed_in_at = int(time.time())
    to_login = await at_op.get(_path(started.headers["location"]))
    logged_in = await login(at_op, "alice", location(to_login)[1]["next"])
    action, page = await consent(at_op, logged_in.headers["location"])
    assert [c["value"] for c in page.checkboxes()] == SCOPE.split()
    path, params = location(await decide(at_op, action, page, "approve"))
    assert path == "/client/oidc/callback" and params["iss"] == issuer

    answer = await at_rp.get(f"{path}?{httpx.QueryParams(params)}")
    assert answer.status_code == 200, answer.text
    claims, info = answer.json()["claims"], answer.json()["userinfo"]
    assert claims["iss"] == issuer and claims["aud"] == "demo-web"
    assert claims["sub"] == "alice" and claims["nonce"] == asked["nonce"][0]
    assert claims["amr"] == ["pwd"] and signed_in_at - 1 <= claims["auth_time"] <= time.time()
    assert claims["exp"] > time.time() and "at_hash" in claims
    assert info == ALICE  # every granted claim, and alice's address (no scope) stays home

    # A second sign-in: consent is remembered, so the provider answers at once; max_age
    # is judged by when alice typed her password (the demo session's auth_time).
    again = await at_rp.get("/rp/sign-in", params={"max_age": "3600"})
    assert parse_qs(urlsplit(again.headers["location"]).query)["max_age"] == ["3600"]
    path, params = location(await at_op.get(_path(again.headers["location"])))
    assert path == "/client/oidc/callback"
    answer = await at_rp.get(f"{path}?{httpx.QueryParams(params)}")
    assert answer.status_code == 200 and answer.json()["userinfo"] == ALICE
    assert answer.json()["claims"]["auth_time"] == claims["auth_time"]

    # RP-initiated logout: the hint names alice, so her session ends without a question.
    leaving = await at_rp.get("/rp/sign-out")
    assert leaving.status_code == 302
    path, params = location(await at_op.get(_path(leaving.headers["location"])))
    assert path == "/client/oidc/signed-out" and set(params) == {"state"}
    back = await at_rp.get(f"{path}?{httpx.QueryParams(params)}")
    assert back.status_code == 200
    assert back.json() == {"post_logout_redirect_uri": f"{running_demo.url}/client/oidc/signed-out"}
    after = await at_rp.get("/rp/sign-in")
    to_login = await at_op.get(_path(after.headers["location"]))
    assert location(to_login)[0] == "/login"  # the demo's session is gone


def _kids(process: DemoProcess) -> set[str]:
    answer = httpx.get(f"{process.url}/oauth/jwks/")
    assert answer.status_code == 200, answer.text
    return {key["kid"] for key in answer.json()["keys"]}


@pytest.mark.real_redis_only
def test_restarting_on_the_same_redis_keeps_the_signing_keys_or_replaces_unreadable_ones(
    redis_server: RedisProcess,
) -> None:
    """The keys in Redis are sealed with the demo's secret key: the printed OAUTH_SECRET_KEY
    keeps them across a restart; a start with another secret replaces them (retired, out of
    the JWKS) instead of leaving jwks/, and so every ID token, answering 503."""
    redis_url = redis_server.url.rsplit("/", 1)[0] + f"/{DEMO_DB}"
    with redis.Redis.from_url(redis_url) as db:
        db.flushdb()
    env = {"REDIS_URL": redis_url, "DEMO_CLIENT_SECRET": WEB_SECRET}
    with DemoProcess(env=env, unset=("OAUTH_SECRET_KEY",)) as first:
        printed = re.search(r"^  export OAUTH_SECRET_KEY=(\S+)$", first.output(), re.M)
        assert printed is not None, first.output()
        kids = _kids(first)
    assert len(kids) == 2  # RS256 and ES256
    with DemoProcess(env={**env, "OAUTH_SECRET_KEY": printed.group(1)}) as second:
        assert _kids(second) == kids
        assert "OAUTH_SECRET_KEY" not in second.output()  # given, so neither made nor shown
    with DemoProcess(env=env, unset=("OAUTH_SECRET_KEY",)) as third:
        renewed = _kids(third)
        output = third.output()
    assert renewed.isdisjoint(kids) and len(renewed) == 2
    assert "were sealed with another OAUTH_SECRET_KEY: replaced by new ones" in output
    assert all(kid in output for kid in kids)
