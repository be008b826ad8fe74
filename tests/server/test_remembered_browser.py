"""Remembered consent and logout in a real browser: Debian chromium, real uvicorn, real Redis.

alice approves once with remembering on; the second authorization goes straight back
to the client. The admin forgets it (its form, its CSRF token, chromium's own
``Origin`` and ``Sec-Fetch-Site``), and the consent page shows again. Then the client
sends her to ``end_session/``: she confirms, lands on the client's post-logout page
with ``state``, and is signed out (the next authorization asks her to log in).
"""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from playwright.async_api import Page

from oauth_middleware import TokenStore, register_client
from tests.browser import chromium, screenshot_path
from tests.redis_process import RedisProcess, free_port
from tests.server.authorize_harness import CHALLENGE, seed
from tests.servers import UvicornProcess
from tests.store_helpers import get_code

pytestmark = [pytest.mark.browser, pytest.mark.real_redis_only]


@pytest.fixture
def server(redis_server: RedisProcess) -> Iterator[UvicornProcess]:
    port = free_port()
    env = {"REDIS_URL": redis_server.url, "OM_ISSUER": f"http://127.0.0.1:{port}/oauth"}
    with UvicornProcess("tests.server.remembered_browser_app:create_app", "--factory",
                        env=env, port=port) as process:
        yield process


def _authorize_url(server: UvicornProcess, callback: str, state: str) -> str:
    return f"{server.url}/oauth/auth/?" + urlencode({
        "response_type": "code", "client_id": "browser", "redirect_uri": callback,
        "scope": "polls:read", "state": state, "code_challenge": CHALLENGE,
        "code_challenge_method": "S256"})


async def _landed_with_code(page: Page, store: TokenStore, callback: str, state: str) -> None:
    await page.wait_for_url(f"{callback}?*")
    answer = parse_qs(urlsplit(page.url).query, strict_parsing=True)
    assert set(answer) == {"code", "state"} and answer["state"] == [state]
    record = await get_code(store, answer["code"][0])
    assert record is not None and (record.subject, record.scopes) == (
        "alice", frozenset({"polls:read"}))


@pytest.mark.rule("auth.consent.remembered", "logout.csrf", "logout.redirect.registered")
async def test_remembered_consent_forgotten_in_the_admin_then_logout_in_chromium(
    store: TokenStore, server: UvicornProcess,
) -> None:
    callback, bye = f"{server.url}/cb", f"{server.url}/cb?signed-out=1"
    await seed(store)
    await register_client(store, "Browser Poll Client", "browser", callback,
                          scopes_list=["polls:read"], register_unknown_scopes=False,
                          post_logout_redirect_uris=[bye])
    async with chromium() as browser:
        page = await browser.new_page()
        page.set_default_timeout(15_000)
        await page.goto(_authorize_url(server, callback, "one"))
        await page.fill("input[name=username]", "alice")
        await page.click("button[type=submit]")
        await page.wait_for_url(f"{server.url}/oauth/auth/?*")
        assert "remembered for 1 day" in await page.inner_text("#remembered")
        await page.click('button[value="approve"]')
        await _landed_with_code(page, store, callback, "one")

        seen: list[tuple[str, int]] = []
        page.on("response", lambda response: seen.append((urlsplit(response.url).path,
                                                          response.status)))
        await page.goto(_authorize_url(server, callback, "two"))
        await _landed_with_code(page, store, callback, "two")
        assert seen == [("/oauth/auth/", 303), ("/cb", 200)]  # no consent page on the way

        await page.goto(f"{server.url}/admin/consents/?user=alice")
        assert await page.locator("#consents tbody tr").count() == 1
        await page.screenshot(path=screenshot_path("admin-remembered-consents.png"))
        await page.click('#consents button:has-text("Forget")')
        await page.wait_for_url(f"{server.url}/admin/consents/?*done=consent-forgotten*")
        assert await page.locator("#consents").count() == 0
        assert await store.remembered_consent("alice", "browser") == frozenset()

        await page.goto(_authorize_url(server, callback, "three"))
        assert await page.title() == "Authorize Browser Poll Client"

        await page.goto(f"{server.url}/oauth/end_session/?" + urlencode({
            "client_id": "browser", "post_logout_redirect_uri": bye, "state": "bye ü"}))
        assert await page.title() == "Sign out?"
        await page.click("#sign-out")
        await page.wait_for_url(f"{bye}&*")
        assert parse_qs(urlsplit(page.url).query) == {"signed-out": ["1"], "state": ["bye ü"]}
        await page.goto(_authorize_url(server, callback, "four"))
        assert urlsplit(page.url).path == "/login"
