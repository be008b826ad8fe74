"""FastAPI's own /docs in chromium: Authorize with code + PKCE, then "Try it out" (RFC 6749 §4.1).

The page is FastAPI's default Swagger UI, told its client by ``swagger_ui_init_oauth``.
Authorize opens the mounted server's ``auth/`` in a popup; the host app's login and
the consent page follow; the server redirects to ``/docs/oauth2-redirect``, Swagger
redeems the code with its PKCE verifier at ``token/`` and then calls a protected
operation with the token. Swagger UI's script and stylesheet normally come from a
CDN: the browser gets them from the ``swagger-ui-py`` package instead, and every
other request that leaves the loopback server is aborted.
"""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.async_api import Page, Route

from oauth_middleware import TokenStore, register_client
from tests.browser import chromium, screenshot_path
from tests.fastapi_docs_app import CLIENT_ID
from tests.redis_process import RedisProcess, free_port
from tests.servers import UvicornProcess

pytestmark = [pytest.mark.browser, pytest.mark.real_redis_only]


def _swagger_static() -> Path:
    spec = importlib.util.find_spec("swagger_ui")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the swagger-ui-py test dependency is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "static"


STATIC = _swagger_static()


@pytest.fixture
def server(redis_server: RedisProcess) -> Iterator[UvicornProcess]:
    port = free_port()
    env = {"REDIS_URL": redis_server.url, "OM_ISSUER": f"http://127.0.0.1:{port}/oauth"}
    with UvicornProcess("tests.fastapi_docs_app:uvicorn_app", "--factory",
                        env=env, port=port) as process:
        yield process


async def _local_only(page: Page, origin: str, outside: list[str]) -> None:
    """Swagger UI's files from the package; nothing else leaves the loopback server."""

    async def handle(route: Route) -> None:
        url = route.request.url
        if url.startswith(origin + "/"):
            await route.continue_()
            return
        outside.append(url)
        name = url.rsplit("/", 1)[-1]
        if name in ("swagger-ui-bundle.js", "swagger-ui.css"):
            await route.fulfill(path=STATIC / name)
        else:
            await route.abort()

    await page.context.route("**/*", handle)


async def _authorize(page: Page, server: UvicornProcess) -> None:
    """Authorize → popup: log in, approve; the popup lands on oauth2-redirect and closes."""
    await page.click("button.authorize")
    flow = page.locator(".auth-container", has_text="authorizationCode with PKCE")
    assert await flow.locator("#client_id_authorizationCode").input_value() == CLIENT_ID
    await flow.locator("label[for='items:read-authorizationCode-checkbox-OAuth2']").click()
    async with page.expect_popup() as opened:
        await flow.locator("button.authorize").click()
    popup = await opened.value
    await popup.wait_for_url(f"{server.url}/login?*")
    await popup.fill("input[name=username]", "alice")
    await popup.click("button[type=submit]")
    await popup.wait_for_url(f"{server.url}/oauth/auth/?*")
    assert await popup.title() == "Authorize API docs"
    scopes = [" ".join(t.split()) for t in await popup.locator("ul.scopes label").all_inner_texts()]
    assert scopes == ["Items Read"]
    async with popup.expect_event("close"):
        await popup.click('button[value="approve"]')
    # Swagger redeemed the code and holds a token: the button now removes it.
    await flow.get_by_role("button", name="Remove authorization").wait_for()
    await page.locator(".btn-done").first.click()


async def _try_get_items(page: Page) -> tuple[str, dict[str, object]]:
    operation = page.locator(".opblock-get", has_text="/items")
    await operation.locator(".opblock-summary").click()
    await operation.locator("button.try-out__btn").click()
    await operation.locator("button.execute").click()
    live = operation.locator(".live-responses-table .response")
    await live.wait_for()
    status = (await live.locator(".response-col_status").inner_text()).strip()
    body = await live.locator(".response-col_description pre.microlight").first.inner_text()
    return status, json.loads(body)


async def test_docs_authorize_runs_code_and_pkce_then_try_it_out_gets_200_in_chromium(
    store: TokenStore, server: UvicornProcess
) -> None:
    await register_client(store, "API docs", CLIENT_ID, f"{server.url}/docs/oauth2-redirect",
                          public=True, grant_types=["authorization_code"],
                          scopes_list=["items:read", "items:write"])
    outside: list[str] = []
    async with chromium() as browser:
        page = await browser.new_page()
        page.set_default_timeout(20_000)
        await _local_only(page, server.url, outside)
        await page.goto(f"{server.url}/docs")
        await _authorize(page, server)
        status, body = await _try_get_items(page)
        await page.screenshot(path=screenshot_path("fastapi-docs-try-it-out.png"))
    assert (status, body) == ("200", {"user": "alice", "client": CLIENT_ID,
                                      "scopes": ["items:read"]})
    assert all("swagger-ui" in url or url.endswith("favicon.png") for url in outside)
    log = server.output()
    assert "POST /oauth/token/ HTTP/1.1\" 200" in log
    assert "GET /items HTTP/1.1\" 200" in log
    _, tokens = await store.list_tokens(client_id=CLIENT_ID)
    assert [(t.subject, t.scopes) for t in tokens] == [("alice", frozenset({"items:read"}))]
