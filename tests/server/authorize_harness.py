"""A host app for the ``auth/`` tests: a login page, a session, the server mounted at /oauth.

The host is what a user of the library writes: Starlette's ``SessionMiddleware``
and ``AuthenticationMiddleware`` (the user comes from the session, or from an
``X-Test-User`` header so ASGI tests can switch users per request), a tiny
login page that sends the user back to ``next``, a callback page standing in
for the client, and ``app.mount("/oauth", AuthorizationServer(...))``.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from html import escape
from html.parser import HTMLParser
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
from starlette.applications import Starlette
from starlette.authentication import AuthCredentials, AuthenticationBackend, SimpleUser
from starlette.middleware import Middleware
from starlette.middleware.authentication import AuthenticationMiddleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import HTTPConnection, Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.types import Message

from oauth_middleware import Scope, TokenStore, register_client
from oauth_middleware.server import AuthorizationServer
from tests.page_headers import assert_page_headers
from tests.store_helpers import redis_of, texts

ISSUER = "https://testserver/oauth"
SECRET_KEY = "test-secret-key-0123456789abcdefghijklmnopqrstuvwxyz"
WEB_REDIRECT = "https://client.example/cb"
SPA_REDIRECT = "https://spa.example/cb"
USER_HEADER = "x-test-user"
#: Form fields as httpx takes them: a list value repeats the field.
FormFields = Mapping[str, str | list[str]]
#: A valid S256 challenge (of the RFC 7636 Appendix B verifier).
CHALLENGE = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
VERIFIER = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"


class HeaderOrSessionBackend(AuthenticationBackend):
    """The signed-in user: an ``X-Test-User`` header, else the session's ``user``."""

    async def authenticate(self, conn: HTTPConnection) -> tuple[AuthCredentials, SimpleUser] | None:
        user = conn.headers.get(USER_HEADER) or conn.session.get("user")
        if not user:
            return None
        return AuthCredentials(["authenticated"]), SimpleUser(user)


def _safe_next(value: str | None) -> str:
    return value if value and value.startswith("/") and not value.startswith("//") else "/"


async def login(request: Request) -> Response:
    if request.method == "POST":
        form = await request.form()
        request.session["user"] = str(form["username"])
        return RedirectResponse(_safe_next(str(form.get("next", ""))), status_code=303)
    target = escape(_safe_next(request.query_params.get("next")))
    return HTMLResponse(
        "<!doctype html><title>Log in</title><form method=post action=/login>"
        f"<input type=hidden name=next value=\"{target}\">"
        "<label>User <input name=username></label><button type=submit>Log in</button></form>"
    )


async def callback(request: Request) -> Response:
    return HTMLResponse("<!doctype html><title>Callback</title><h1>Client callback</h1>")


async def whoami(request: Request) -> Response:
    return JSONResponse({"user": request.user.identity if request.user.is_authenticated else None})


def host_app(server: AuthorizationServer, *, https_only: bool = False) -> Starlette:
    return Starlette(
        routes=[
            Route("/login", login, methods=["GET", "POST"]),
            Route("/cb", callback),
            Route("/whoami", whoami),
            Mount("/oauth", server),
        ],
        middleware=[
            Middleware(SessionMiddleware, secret_key=SECRET_KEY, https_only=https_only),
            Middleware(AuthenticationMiddleware, backend=HeaderOrSessionBackend()),
        ],
    )


async def seed(store: TokenStore, *, web_redirects: tuple[str, ...] = (WEB_REDIRECT,)) -> None:
    """Scopes (one disabled) and two clients: confidential ``web`` and public ``spa``."""
    await store.save_scope(Scope("polls:read", "Read your polls"))
    await store.save_scope(Scope("polls:vote", "Vote in polls"))
    await store.save_scope(Scope("polls:secret", "Secret polls", enabled=False))
    await register_client(
        store, "Poll Reader", "web", list(web_redirects), public=False,
        scopes_list=["polls:read", "polls:vote"], description="Reads and votes in your polls.",
        link="https://client.example/about", register_unknown_scopes=False,
    )
    await register_client(
        store, "Poll SPA", "spa", SPA_REDIRECT, public=True, register_unknown_scopes=False,
        scopes_list=["polls:read", "polls:vote"],
        grant_types=["authorization_code", "implicit", "refresh_token"],
    )


def uvicorn_app() -> Starlette:
    """``uvicorn --factory tests.server.authorize_harness:uvicorn_app`` (browser test)."""
    store = TokenStore.from_url(os.environ["REDIS_URL"])
    server = AuthorizationServer(store=store, issuer=os.environ["OM_ISSUER"],
                                 secret_key=SECRET_KEY, debug=True)
    return host_app(server)


@dataclass
class Page:
    """What the tests read from an HTML page: forms, inputs, buttons, links, text."""

    forms: list[dict[str, str]] = field(default_factory=list)
    inputs: list[dict[str, str]] = field(default_factory=list)
    buttons: list[dict[str, str]] = field(default_factory=list)
    links: list[dict[str, str]] = field(default_factory=list)
    text: str = ""

    def hidden(self, name: str) -> str:
        found = [i["value"] for i in self.inputs if i.get("type") == "hidden" and i["name"] == name]
        assert len(found) == 1, f"expected one hidden {name}, got {found}"
        return found[0]

    def checkboxes(self, name: str = "scope") -> list[dict[str, str]]:
        return [i for i in self.inputs if i.get("type") == "checkbox" and i.get("name") == name]


_NOT_SHOWN = frozenset({"head", "style", "script", "title"})


class _PageParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.page = Page()
        self.texts: list[str] = []
        self.hidden_text = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _NOT_SHOWN:
            self.hidden_text += 1
        found = {k: v if v is not None else "" for k, v in attrs}
        target = {"form": self.page.forms, "input": self.page.inputs,
                  "button": self.page.buttons, "a": self.page.links}.get(tag)
        if target is not None:
            target.append(found)

    def handle_endtag(self, tag: str) -> None:
        if tag in _NOT_SHOWN:
            self.hidden_text -= 1

    def handle_data(self, data: str) -> None:
        if not self.hidden_text:
            self.texts.append(data)


def read_page(html: str) -> Page:
    parser = _PageParser()
    parser.feed(html)
    parser.page.text = " ".join("".join(parser.texts).split())
    return parser.page


def assert_page(response: httpx.Response, status: int) -> Page:
    """An HTML page with the anti-framing headers, no redirect and no CORS; returns it read."""
    assert response.status_code == status, response.text
    assert "location" not in response.headers
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert_page_headers(response)
    assert not [h for h in response.headers if h.startswith("access-control-")]
    assert "Traceback" not in response.text
    return read_page(response.text)


def answer(response: httpx.Response, issuer: str | None = ISSUER
           ) -> tuple[str, str, dict[str, str]]:
    """A redirect's (URI without our parameters, "query"|"fragment", parameters but ``iss``).

    ``issuer`` None: a redirect that is no authorization response (RP-initiated logout's
    return to the client), which carries no ``iss``.

    Asserts the redirect is a 303 no cache keeps and no referrer follows (it may carry a
    code or a token), that no parameter appears twice, and that ``iss`` is the issuer.
    """
    assert response.status_code == 303, response.text
    assert (response.headers.get("cache-control"), response.headers.get("pragma"),
            response.headers.get("referrer-policy")) == ("no-store", "no-cache", "no-referrer")
    location = response.headers["location"]
    base, hash_sign, fragment = location.partition("#")
    where, raw = ("fragment", fragment) if hash_sign else ("query", urlsplit(base).query)
    pairs = parse_qsl(raw, keep_blank_values=True, strict_parsing=bool(raw))
    keys = [k for k, _ in pairs]
    assert len(keys) == len(set(keys)), f"repeated parameter in {location}"
    if where == "query":
        base = base.split("?", 1)[0]
    params = dict(pairs)
    # RFC 9207 §2: every authorization response, success or error, names its issuer.
    if issuer is None:
        assert "iss" not in params, f"iss where none belongs: {location}"
    else:
        assert params.pop("iss", None) == issuer, f"no iss={issuer} in {location}"
    return base, where, params


@dataclass
class Harness:
    store: TokenStore
    server: AuthorizationServer
    app: Starlette
    http: httpx.AsyncClient

    async def authorize(self, user: str | None = "alice", /, **params: str) -> httpx.Response:
        """GET auth/ as ``user`` (None: anonymous) with ``params``."""
        return await self.get_auth(params, user=user)

    async def get_auth(
        self, params: Mapping[str, str], *, user: str | None = "alice",
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        hdrs = {**({USER_HEADER: user} if user else {}), **(headers or {})}
        return await self.http.get("/oauth/auth/", params=dict(params), headers=hdrs)

    async def authorize_raw(self, query: str, user: str | None = "alice") -> httpx.Response:
        """GET auth/ with a query string sent exactly as written (no re-encoding)."""
        url = httpx.URL("https://testserver/oauth/auth/", query=query.encode("latin-1"))
        return await self.http.get(url, headers={USER_HEADER: user} if user else {})

    async def asgi_get(self, query: bytes, user: str = "alice") -> tuple[int, dict[str, str], str]:
        """GET auth/ with raw query bytes no HTTP client would send, straight through ASGI."""
        sent: list[Message] = []

        async def receive() -> Message:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: Message) -> None:
            sent.append(message)

        scope = {
            "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
            "scheme": "https", "server": ("testserver", 443), "client": ("127.0.0.1", 1),
            "path": "/oauth/auth/", "raw_path": b"/oauth/auth/", "root_path": "",
            "query_string": query, "headers": [(b"host", b"testserver"),
                                               (USER_HEADER.encode(), user.encode())],
        }
        await self.app(scope, receive, send)
        start = sent[0]
        headers = {k.decode(): v.decode() for k, v in start["headers"]}
        body = b"".join(m.get("body", b"") for m in sent[1:])
        return start["status"], headers, body.decode()

    async def consent(self, user: str = "alice", /, **params: str) -> Page:
        """Open the consent page (asserting it is one) and read its form."""
        response = await self.authorize(user, **params)
        assert response.status_code == 200, response.text
        return read_page(response.text)

    async def decide(
        self, page: Page, decision: str = "approve", *, user: str | None = "alice",
        scopes: list[str] | None = None, headers: Mapping[str, str] | None = None,
        drop: tuple[str, ...] = (), extra: FormFields | None = None,
        bare: bool = False,
    ) -> httpx.Response:
        """Post the consent form as a same-origin browser would, the ticked scopes by default.

        ``drop`` removes fields, ``extra`` replaces them; ``bare`` sends no Origin or
        Sec-Fetch-Site header (a non-browser client or an old browser).
        """
        chosen = [c["value"] for c in page.checkboxes()] if scopes is None else scopes
        fields: dict[str, str | list[str]] = {
            i["name"]: i["value"] for i in page.inputs if i.get("type") == "hidden"}
        fields.update({"scope": chosen, "decision": decision})
        fields = {k: v for k, v in fields.items() if k not in drop}
        fields.update(extra or {})
        browser = {} if bare else {"origin": "https://testserver", "sec-fetch-site": "same-origin"}
        hdrs = {**browser, **({USER_HEADER: user} if user else {}), **(headers or {})}
        return await self.http.post(page.forms[0]["action"], data=fields, headers=hdrs)

    async def code_keys(self) -> list[str]:
        """Every stored authorization-code key (to prove none was created)."""
        pattern = f"{self.store.keys.prefix}code:*"
        return texts(list(await redis_of(self.store).keys(pattern)))


@asynccontextmanager
async def open_harness(
    store: TokenStore, *, base_url: str = "https://testserver", seeded: bool = True,
    **options: Any,
) -> AsyncIterator[Harness]:
    options.setdefault("issuer", ISSUER)
    options.setdefault("secret_key", SECRET_KEY)
    server = AuthorizationServer(store=store, **options)
    app = host_app(server)
    if seeded:
        await seed(store)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=base_url) as http:
        yield Harness(store, server, app, http)
