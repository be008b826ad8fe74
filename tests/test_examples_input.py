"""Odd input to the examples' ``/items``: a 4xx, never a 500, and memory stays bounded.

Newcomers copy the examples, so they hold the product rules too: every collection
bounded, no 500 for any malformed request.
"""

from __future__ import annotations

import importlib
from typing import Any

import httpx
import pytest

from oauth_middleware import TokenStore
from oauth_middleware.store import NewTokens

#: In-process only: importing the Django example would configure Django's settings for the
#: whole test session (the docs pages configure their own); it runs under uvicorn elsewhere.
EXAMPLES = ["examples.fastapi_app", "examples.flask_app"]
#: Where each example keeps its items.
ITEMS = {"examples.fastapi_app": "examples.fastapi_app", "examples.flask_app": "examples.flask_app"}


def _example(name: str) -> tuple[Any, TokenStore]:
    module = importlib.import_module(name)
    app = module.app
    return app, module.oauth.store


async def _writer(store: TokenStore) -> dict[str, str]:
    issued = await store.issue(NewTokens(client_id="example-service", subject="example-service",
                                         scopes=frozenset({"items:read", "items:write"})))
    return {"Authorization": f"Bearer {issued.access_token}"}


def _add(client: httpx.AsyncClient, name: str, headers: dict[str, str],
         module: str) -> Any:
    if module == "examples.fastapi_app":  # the name is a query parameter there
        return client.post("/items", params={"name": name}, headers=headers)
    return client.post("/items", json={"name": name}, headers=headers)


@pytest.mark.parametrize("module", EXAMPLES)
async def test_an_example_keeps_a_bounded_list_of_short_items(module: str) -> None:
    app, store = _example(module)
    items = importlib.import_module(ITEMS[module]).items
    items.clear()
    headers = await _writer(store)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8000") as c:
        long = await _add(c, "x" * 5000, headers, module)
        added = [(await _add(c, f"item-{i}", headers, module)).status_code for i in range(150)]
        listed = await c.get("/items", headers=headers)
    assert 400 <= long.status_code < 500, long.text
    assert added == [201] * 150
    assert listed.status_code == 200
    body = listed.json()
    names = body if isinstance(body, list) else body["items"]
    assert len(names) == 100 and names[-1] == "item-149"
    assert "x" * 5000 not in names


ODD_BODIES = [b"not json", b"\xff\xfe\x00", b"[1, 2]", b'{"name": 5}', b'{"name": "a\\u0000b"}',
              b'{"name": "' + b"y" * 40_000 + b'"}', b"{" * 10_000]


@pytest.mark.parametrize("module", EXAMPLES)
async def test_an_example_answers_odd_item_bodies_with_a_4xx(module: str) -> None:
    app, store = _example(module)
    items = importlib.import_module(ITEMS[module]).items
    items.clear()
    headers = {**await _writer(store), "Content-Type": "application/json"}
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8000") as c:
        answers = [await c.post("/items", content=body, headers=headers) for body in ODD_BODIES]
        twice = await c.post("/items?name=a&name=b", headers=headers)
    assert [a.status_code for a in answers if not 400 <= a.status_code < 500] == []
    assert len(items) == (1 if module == "examples.fastapi_app" else 0)  # the last ?name= wins
    assert twice.status_code in (201, 400)
