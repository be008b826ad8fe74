"""auth/ in a real browser: Debian chromium, real uvicorn, real Redis (RFC 6749 §4.1).

The user logs in on the host's login page, sees the consent page with the
client's title and the scope titles, unticks a scope and approves: the browser
lands on the redirect URI with a code whose stored scopes exclude the unticked
one. A second round denies and lands with ``access_denied``. Chromium sends its
own ``Origin`` and ``Sec-Fetch-Site`` headers, so the cross-site checks are
exercised with real values.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from playwright.async_api import Browser, Page, async_playwright

from oauth_middleware import TokenStore, register_client
from tests.redis_process import RedisProcess, free_port
from tests.server.authorize_harness import CHALLENGE, seed
from tests.servers import UvicornProcess
from tests.store_helpers import get_code, redis_of

pytestmark = [pytest.mark.browser, pytest.mark.real_redis_only]

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
STATE = "browser state ü&#"


@pytest.fixture
def server(redis_server: RedisProcess) -> Iterator[UvicornProcess]:
    port = free_port()
    env = {"REDIS_URL": redis_server.url, "OM_ISSUER": f"http://127.0.0.1:{port}/oauth"}
    with UvicornProcess("tests.server.authorize_harness:uvicorn_app", "--factory",
                        env=env, port=port) as process:
        yield process


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        await chromium.close()


def _authorize_url(server: UvicornProcess, callback: str) -> str:
    return f"{server.url}/oauth/auth/?" + urlencode({
        "response_type": "code", "client_id": "browser", "redirect_uri": callback,
        "scope": "polls:read polls:vote", "state": STATE,
        "code_challenge": CHALLENGE, "code_challenge_method": "S256",
    })


async def _open_consent(page: Page, url: str) -> None:
    await page.goto(url)
    assert await page.title() == "Authorize Browser Poll Client"
    heading = await page.inner_text("h1")
    assert " ".join(heading.split()) == "Authorize Browser Poll Client?"
    assert await page.get_attribute("#client", "href") == "https://client.example/about"
    labels = [" ".join(t.split()) for t in await page.locator("ul.scopes label").all_inner_texts()]
    assert labels == ["Read your polls", "Vote in polls"]


@pytest.mark.rule("auth.consent.remove-only", "auth.consent.deny", "auth.csrf.cross-site")
async def test_login_consent_untick_and_approve_then_deny_in_chromium(
    store: TokenStore, server: UvicornProcess, browser: Browser
) -> None:
    callback = f"http://127.0.0.1:{server.port}/cb"
    await seed(store)
    await register_client(store, "Browser Poll Client", "browser", callback, public=True,
                          scopes_list=["polls:read", "polls:vote"], register_unknown_scopes=False,
                          link="https://client.example/about")
    page = await browser.new_page()
    page.set_default_timeout(15_000)
    await page.goto(_authorize_url(server, callback))
    assert urlsplit(page.url).path == "/login"
    await page.fill("input[name=username]", "alice")
    await page.click("button[type=submit]")
    await page.wait_for_url(f"{server.url}/oauth/auth/?*")
    await _open_consent(page, page.url)
    await page.uncheck('input[name=scope][value="polls:vote"]')
    await page.click('button[value="approve"]')
    await page.wait_for_url(f"{callback}?*")
    answer = parse_qs(urlsplit(page.url).query, strict_parsing=True)
    assert set(answer) == {"code", "iss", "state"} and answer["state"] == [STATE]
    assert answer["iss"] == [f"{server.url}/oauth"]  # RFC 9207
    record = await get_code(store, answer["code"][0])
    assert record is not None
    assert (record.client_id, record.subject, record.scopes, record.code_challenge) == (
        "browser", "alice", frozenset({"polls:read"}), CHALLENGE)

    await _open_consent(page, _authorize_url(server, callback))  # still logged in
    await page.click('button[value="deny"]')
    await page.wait_for_url(f"{callback}?*")
    denied = parse_qs(urlsplit(page.url).query, strict_parsing=True)
    assert denied["error"] == ["access_denied"] and denied["state"] == [STATE]
    assert denied["iss"] == [f"{server.url}/oauth"]
    codes = await redis_of(store).keys(f"{store.keys.prefix}code:*")
    assert len(codes) == 1
