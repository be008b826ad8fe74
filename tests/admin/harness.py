"""A host app for the admin tests: the admin mounted at /admin, users named by a test header.

``x-test-user: alice`` signs a request in as alice (an admin), ``bob`` is signed
in but no admin, no header is anonymous. ``Admin`` wraps an httpx client with
helpers that read the CSRF token from a page and post forms with it.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping, Sequence
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.authentication import AuthCredentials, AuthenticationBackend, BaseUser, SimpleUser
from starlette.middleware import Middleware
from starlette.middleware.authentication import AuthenticationMiddleware
from starlette.requests import HTTPConnection, Request
from starlette.routing import Mount

from oauth_middleware.admin import AdminApp
from oauth_middleware.store import TokenStore
from tests.page_headers import assert_page_headers as assert_headers
from tests.store_helpers import redis_of

KEY = b"k" * 32
ADMINS = {"alice"}
USER_HEADER = "x-test-user"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')

FormData = Mapping[str, str | Sequence[str]]


class HeaderUsers(AuthenticationBackend):
    async def authenticate(self, conn: HTTPConnection) -> tuple[AuthCredentials, BaseUser] | None:
        name = conn.headers.get(USER_HEADER)
        return (AuthCredentials(["session"]), SimpleUser(name)) if name else None


def is_admin(request: Request) -> bool:
    return request.user.is_authenticated and request.user.identity in ADMINS


def build_host(store: TokenStore, **options: Any) -> Starlette:
    options.setdefault("is_admin", is_admin)
    options.setdefault("secret_key", KEY)
    options.setdefault("login_url", "/login")
    admin = AdminApp(store=store, **options)
    return Starlette(routes=[Mount("/admin", admin)],
                     middleware=[Middleware(AuthenticationMiddleware, backend=HeaderUsers())])


async def stored_state(store: TokenStore) -> str:
    """Every key and value in the store, to compare before and after a refused request."""
    keys = sorted(await redis_of(store).keys("*"))
    return repr([(key, await redis_of(store).dump(key)) for key in keys])


def csrf_of(page: httpx.Response) -> str:
    found = _CSRF.search(page.text)
    assert found is not None, "the page has no form with a CSRF token"
    return html.unescape(found.group(1))


def assert_page_headers(response: httpx.Response) -> None:
    """Every admin page carries the consent page's headers (and a stricter CSP)."""
    assert_headers(response, admin=True)
    assert response.headers["content-type"] == "text/html; charset=utf-8"


class Admin:
    """An httpx client signed in as ``user`` against a host app."""

    def __init__(self, app: Starlette, user: str | None = "alice",
                 base_url: str = "https://testserver") -> None:
        headers = {USER_HEADER: user} if user else {}
        self.http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=base_url,
                                      headers=headers, follow_redirects=False)
        self.pages: list[httpx.Response] = []

    async def __aenter__(self) -> Admin:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.http.aclose()

    async def get(self, path: str, **params: str) -> httpx.Response:
        response = await self.http.get(path, params=params or None)
        self.pages.append(response)
        return response

    async def token(self, path: str = "/admin/scopes/") -> str:
        page = await self.get(path)
        assert page.status_code == 200, page.text
        return csrf_of(page)

    async def post(self, path: str, data: FormData, *, csrf: str | None = None,
                   **headers: str) -> httpx.Response:
        """POST ``data`` with a fresh CSRF token (or ``csrf`` exactly, when given)."""
        token = await self.token() if csrf is None else csrf
        fields: list[tuple[str, str]] = [("csrf_token", token)] if token else []
        for name, value in data.items():
            fields += [(name, value)] if isinstance(value, str) else [(name, v) for v in value]
        response = await self.http.post(path, data=dict_or_pairs(fields), headers=headers)
        self.pages.append(response)
        return response


def dict_or_pairs(fields: list[tuple[str, str]]) -> Any:
    """httpx takes repeated fields as a dict of lists."""
    out: dict[str, list[str]] = {}
    for name, value in fields:
        out.setdefault(name, []).append(value)
    return out
