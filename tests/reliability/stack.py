"""The whole product in one app, and every flow a client runs, for the reliability tests.

``build`` mounts the authorization server at ``/oauth`` (the user comes from an
``X-Test-User`` header through the ``authenticate`` hook, passwords from a
``verify_password`` hook) next to ``/me``, a route behind ``OAuthMiddleware``
that records its calls; every answer names the worker process that gave it.
:class:`Flows` drives every grant through HTTP exactly as a client would:
code + PKCE through ``auth/`` and the consent form, refresh, client
credentials, password, implicit, revoke and introspect. ``uvicorn_app`` is the
same app for ``uvicorn --factory tests.reliability.stack:uvicorn_app``.
"""

from __future__ import annotations

import hmac
import logging.config
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.types import ASGIApp, Message, Receive, Send
from starlette.types import Scope as AsgiScope

from oauth_middleware import OAuthMiddleware, Scope, TokenStore, register_client
from oauth_middleware.security import pkce_s256
from oauth_middleware.server import AuthorizationServer
from oauth_middleware.server.config import ThrottlePolicy
from oauth_middleware.toolbox import RegisteredClient
from tests.redis_process import free_port
from tests.server.authorize_harness import answer, read_page
from tests.servers import UvicornProcess

ISSUER = "https://testserver/oauth"
SECRET_KEY = b"reliability-secret-key-0123456789"
USER_HEADER = "x-test-user"
REDIRECT = "https://client.example/cb"
PASSWORD = "correct horse battery staple"
VERIFIER = "reliability-verifier-" + "v" * 30
SCOPES = ("polls:read", "polls:vote")
#: Throttling that never trips in a flood of legitimate requests.
RELAXED = ThrottlePolicy(client_failures=10**6, client_failures_overall=10**6,
                         password_failures=10**6, password_failures_overall=10**6)


def authenticate(request: Request) -> str | None:
    return request.headers.get(USER_HEADER)


def verify_password(username: str, password: str) -> str | None:
    ok = hmac.compare_digest(password.encode(), PASSWORD.encode())
    return username if ok and username == "alice" else None


async def me(request: Request) -> Response:
    request.app.state.calls.append(request.url.path)
    return JSONResponse({"user": request.user.identity, "scopes": sorted(request.auth.scopes)})


def build(store: TokenStore, *, debug: bool = False, issuer: str = ISSUER,
          throttle: ThrottlePolicy = RELAXED) -> Starlette:
    server = AuthorizationServer(
        store=store, issuer=issuer, secret_key=SECRET_KEY, authenticate=authenticate,
        verify_password=verify_password, debug=debug, throttle=throttle,
    )
    app = Starlette(routes=[Mount("/oauth", server), Route("/me", me)])
    app.add_middleware(OAuthMiddleware, store=store, scopes={"/me": ["polls:read"]},
                       debug=debug)
    app.add_middleware(WorkerHeader)
    app.state.calls = []
    return app


class WorkerHeader:
    """Outermost: every answer, refusals included, names the process that gave it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.pid = str(os.getpid()).encode()

    async def __call__(self, scope: AsgiScope, receive: Receive, send: Send) -> None:
        async def named(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []),
                                                  (b"x-worker", self.pid)]}
            await send(message)

        await self.app(scope, receive, named)


@contextmanager
def on_two_workers(redis_url: str) -> Iterator[UvicornProcess]:
    """This stack on ``redis_url``, served by uvicorn with two workers on a free loopback port."""
    port = free_port()
    env = {"REDIS_URL": redis_url, "OM_ISSUER": f"http://127.0.0.1:{port}/oauth"}
    with UvicornProcess("tests.reliability.stack:uvicorn_app", "--factory", "--workers", "2",
                        "--log-level", "warning", env=env, port=port) as running:
        yield running


def uvicorn_app() -> Starlette:
    """The stack on ``REDIS_URL``, plain HTTP (debug), logging configured by ``OM_LOG_LEVEL``."""
    level = os.environ.get("OM_LOG_LEVEL")
    if level:
        logging.config.dictConfig({
            "version": 1, "disable_existing_loggers": False,
            "handlers": {"out": {"class": "logging.StreamHandler", "stream": "ext://sys.stdout"}},
            "root": {"level": level, "handlers": ["out"]},
        })
    store = TokenStore.from_url(os.environ["REDIS_URL"])
    return build(store, debug=True, issuer=os.environ["OM_ISSUER"])


@dataclass
class Clients:
    """The registered clients: confidential ``web`` (every grant) and public ``spa``."""

    web: RegisteredClient
    spa: RegisteredClient

    @property
    def web_secret(self) -> str:
        secret = self.web.client_secret
        assert secret is not None
        return secret


async def seed(store: TokenStore) -> Clients:
    for identifier in SCOPES:
        await store.save_scope(Scope(identifier, identifier.title()))
    web = await register_client(
        store, "Web", "web", REDIRECT, public=False, scopes_list=list(SCOPES),
        grant_types=["authorization_code", "refresh_token", "client_credentials", "password",
                     "implicit"], replace_existing=True, allow_confidential_implicit=True,
    )
    spa = await register_client(store, "SPA", "spa", REDIRECT, public=True,
                                scopes_list=list(SCOPES), replace_existing=True)
    return Clients(web, spa)


@dataclass
class Flows:
    """Each grant as a client runs it; every secret seen is kept in ``secrets``."""

    http: httpx.AsyncClient
    clients: Clients
    #: The issuer's origin, as a browser posting the consent form sends it.
    origin: str = "https://testserver"
    secrets: list[str] = field(default_factory=list)

    @property
    def issuer(self) -> str:
        """The server's issuer: its origin's ``/oauth`` (RFC 9207 ``iss`` of its answers)."""
        return f"{self.origin}/oauth"

    def auth(self) -> httpx.BasicAuth:
        return httpx.BasicAuth("web", self.clients.web_secret)

    def keep(self, *values: str | None) -> None:
        self.secrets.extend(v for v in values if v)

    async def authorize(self, response_type: str = "code", user: str = "alice"
                        ) -> httpx.Response:
        """auth/ GET, the consent page, the approving POST: the 303 to the client."""
        params = {"client_id": "web", "redirect_uri": REDIRECT, "response_type": response_type,
                  "scope": " ".join(SCOPES), "state": "st"}
        if response_type == "code":
            params.update(code_challenge=pkce_s256(VERIFIER), code_challenge_method="S256")
        page = await self.http.get("/oauth/auth/", params=params, headers={USER_HEADER: user})
        if page.status_code != 200:
            return page
        form = read_page(page.text)
        fields: dict[str, Any] = {i["name"]: i["value"] for i in form.inputs
                                  if i.get("type") == "hidden"}
        self.keep(fields.get("transaction"), fields.get("csrf_token"))
        fields.update(scope=list(SCOPES), decision="approve")
        return await self.http.post(form.forms[0]["action"], data=fields, headers={
            USER_HEADER: user, "origin": self.origin, "sec-fetch-site": "same-origin"})

    async def code(self) -> str:
        redirect = await self.authorize("code")
        _, _, params = answer(redirect, self.issuer)
        self.keep(params["code"])
        return params["code"]

    async def token(self, data: dict[str, str]) -> httpx.Response:
        self.keep(data.get("code"), data.get("refresh_token"), data.get("password"))
        response = await self.http.post("/oauth/token/", data=data, auth=self.auth())
        if response.status_code == 200:
            body = response.json()
            self.keep(body.get("access_token"), body.get("refresh_token"))
        return response

    async def redeem(self, code: str) -> httpx.Response:
        return await self.token({"grant_type": "authorization_code", "code": code,
                                 "redirect_uri": REDIRECT, "code_verifier": VERIFIER})

    async def refresh(self, refresh_token: str) -> httpx.Response:
        return await self.token({"grant_type": "refresh_token", "refresh_token": refresh_token})

    async def client_credentials(self) -> httpx.Response:
        return await self.token({"grant_type": "client_credentials", "scope": "polls:read"})

    async def password(self, password: str = PASSWORD) -> httpx.Response:
        return await self.token({"grant_type": "password", "username": "alice",
                                 "password": password, "scope": "polls:read"})

    async def implicit(self) -> dict[str, str]:
        _, where, params = answer(await self.authorize("token"), self.issuer)
        assert where == "fragment" and "refresh_token" not in params
        self.keep(params["access_token"])
        return params

    async def revoke(self, token: str) -> httpx.Response:
        return await self.http.post("/oauth/revoke/", data={"token": token}, auth=self.auth())

    async def introspect(self, token: str) -> httpx.Response:
        return await self.http.post("/oauth/introspect/", data={"token": token},
                                    auth=self.auth())

    async def me(self, token: str) -> httpx.Response:
        return await self.http.get("/me", headers={"Authorization": f"Bearer {token}"})
