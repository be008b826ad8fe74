"""Fixtures of the token-family tests: the mounted server, a client for it, one client app.

Modules that need another throttle policy override ``app``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from starlette.applications import Starlette

from oauth_middleware.store import TokenStore
from oauth_middleware.toolbox import RegisteredClient
from tests.server.token_harness import build_app, confidential, http


@pytest.fixture
def app(store: TokenStore) -> Starlette:
    return build_app(store)


@pytest.fixture
async def client(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    async with http(app) as c:
        yield c


@pytest.fixture
async def web(store: TokenStore) -> RegisteredClient:
    return await confidential(store)
