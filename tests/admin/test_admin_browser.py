"""The admin in a real browser: Debian chromium, the demo under real uvicorn, real Redis.

alice signs in, registers a client with two redirect URIs and a scope, issues a
token from the client page, reads it off the shown-once page and calls a
protected demo route with it (200); she revokes it in the admin and the route
refuses it (401 invalid_token). bob, signed in but no admin, gets 403.
Screenshots of the client list and the client page go to artifacts/screenshots/.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from playwright.async_api import Browser, Page, async_playwright

from oauth_middleware.security import fingerprint
from oauth_middleware.store import TokenStore
from tests.redis_process import RedisProcess, free_port
from tests.servers import ROOT, UvicornProcess

pytestmark = [pytest.mark.browser, pytest.mark.real_redis_only]

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
SCREENSHOTS = ROOT / "artifacts" / "screenshots"
URIS = ["https://polls-app.example/oauth/callback", "http://127.0.0.1:9000/callback"]


@pytest.fixture
def demo(store: TokenStore, redis_server: RedisProcess) -> Iterator[UvicornProcess]:
    """The demo, started after ``store`` emptied the Redis it seeds."""
    port = free_port()
    env = {"REDIS_URL": redis_server.url, "DEMO_PORT": str(port)}
    with UvicornProcess("tests.admin.demo_server:create_app", "--factory", env=env,
                        port=port) as process:
        yield process


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        await chromium.close()


async def _sign_in(browser: Browser, demo: UvicornProcess, user: str) -> Page:
    page = await (await browser.new_context(viewport={"width": 1280, "height": 900})).new_page()
    page.set_default_timeout(15_000)
    await page.goto(f"{demo.url}/admin/")
    assert page.url == f"{demo.url}/login?next=%2Fadmin%2F"
    await page.fill("input[name=username]", user)
    await page.fill("input[name=password]", f"{user}-password")
    await page.click("main button[type=submit]")
    await page.wait_for_load_state()
    return page


async def _create_client(page: Page, demo: UvicornProcess) -> None:
    await page.click("#new-client")
    await page.fill("#title", "Polls companion")
    await page.fill("#client_id", "polls-companion")
    await page.fill("#redirect_uris", "\n".join(URIS))
    await page.fill("#scopes", "polls:results")
    await page.fill("#description", "Reads poll results for the team.")
    await page.click("#save")
    await page.wait_for_url(f"{demo.url}/admin/clients/polls-companion/?done=created")
    assert await page.inner_text("#notice") == "Client registered."


async def _issue_token(page: Page) -> str:
    await page.fill("#token-user", "alice")
    await page.fill("#token-scopes", "polls:results")
    await page.click("#issue-token-button")
    await page.wait_for_selector("#access-token")
    assert await page.inner_text("#heading") == "Token issued"
    return (await page.inner_text("#access-token")).strip()


async def test_alice_manages_a_client_and_its_token_and_bob_is_refused(
    store: TokenStore, demo: UvicornProcess, browser: Browser
) -> None:
    page = await _sign_in(browser, demo, "alice")
    assert page.url == f"{demo.url}/admin/clients/"
    assert "demo-web" in await page.inner_text("#clients")
    await _create_client(page, demo)
    client = await store.get_client("polls-companion")
    assert client is not None
    assert (client.redirect_uris, client.scopes, client.registrant) == (
        tuple(URIS), ("polls:results",), "alice")

    token = await _issue_token(page)
    results = f"{demo.url}/polls/1/results"
    bearer = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(timeout=10) as http:
        assert (await http.get(results, headers=bearer)).status_code == 200
        await page.click("#back")
        await page.wait_for_url(f"{demo.url}/admin/clients/polls-companion/")
        assert token not in await page.content()
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        await page.screenshot(path=str(SCREENSHOTS / "admin-client.png"), full_page=True)
        row = page.locator("tr.token", has_text=fingerprint(token))
        await row.locator("button", has_text="Revoke").click()
        await page.wait_for_url("**/admin/clients/polls-companion/?done=token-revoked")
        assert await store.resolve(token) is None
        refused = await http.get(results, headers=bearer)
    assert refused.status_code == 401
    assert 'error="invalid_token"' in refused.headers["www-authenticate"]

    await page.goto(f"{demo.url}/admin/clients/")
    await page.screenshot(path=str(SCREENSHOTS / "admin-clients.png"), full_page=True)

    await page.goto(f"{demo.url}/")
    assert await page.get_attribute("#admin-link", "href") == "/admin/"

    bob = await _sign_in(browser, demo, "bob")
    assert bob.url == f"{demo.url}/admin/"
    answer = await bob.goto(f"{demo.url}/admin/clients/")
    assert answer is not None and answer.status == 403
    assert await bob.inner_text("#heading") == "Forbidden"
