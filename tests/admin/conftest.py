"""Fixtures of the admin tests: the host app over the ``store`` fixture, and clients for it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from starlette.applications import Starlette

from oauth_middleware.store import TokenStore
from tests.admin.harness import Admin, build_host


@pytest.fixture
def host(store: TokenStore) -> Starlette:
    return build_host(store)


@pytest.fixture
async def admin(host: Starlette) -> AsyncIterator[Admin]:
    async with Admin(host) as client:
        yield client
