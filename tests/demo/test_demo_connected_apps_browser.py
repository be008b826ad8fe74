"""The connected-apps page in a real browser: alice authorizes the demo client, finds it
under "Connected apps", revokes it, and the client's token is refused on its next call.

Debian chromium (playwright), the demo started as ``python -m demo`` with real uvicorn
and a real redis-server. The page is reached the way a person finds it: the header's
link, shown once signed in. A screenshot of the page goes to artifacts/screenshots/.
"""

from __future__ import annotations

import re

import pytest
from playwright.async_api import expect

from tests.browser import chromium, screenshot_path
from tests.demo.harness import Demo

pytestmark = [pytest.mark.browser, pytest.mark.real_redis_only]

WEB = "section.app[data-client-id='demo-web']"


async def test_alice_revokes_the_demo_client_and_its_token_is_refused_next_time(
    demo: Demo,
) -> None:
    async with chromium() as browser:
        page = await browser.new_page()
        await page.goto(f"{demo.url}/")
        await expect(page.locator("#connected-apps-link")).to_have_count(0)  # signed out
        await expect(page.locator("#home-connected-apps")).to_have_count(0)
        await page.goto(f"{demo.url}/client/")
        await page.click("#start")
        await page.fill("#username", "alice")
        await page.fill("#password", "alice-password")
        await page.click("button[type=submit]")
        await page.click("button[name=decision][value=approve]")
        await expect(page).to_have_url(f"{demo.url}/client/")
        statuses = page.locator("#results tr.call td.status")
        assert await statuses.all_inner_texts() == ["200", "200", "200", "200"]
        fingerprint = (await page.locator("#tokens code").first.inner_text()).strip()

        await page.goto(f"{demo.url}/")  # signed in: the home page and the header link it
        await expect(page.locator("#home-connected-apps")).to_have_count(1)
        await page.click("#connected-apps-link")
        await expect(page).to_have_url(f"{demo.url}/account/apps/")
        app = page.locator(WEB)
        await expect(app.locator("h2")).to_have_text("Demo web client")
        await expect(app.locator("tr.grant")).to_have_count(1)
        await expect(app.locator("tr.grant")).to_contain_text(fingerprint)
        await expect(app.locator(".consent")).to_contain_text("Remembered consent")
        await page.screenshot(path=screenshot_path("connected-apps.png"), full_page=True)

        await app.locator("button.disconnect").click()  # a POST with the page's CSRF token
        await expect(page).to_have_url(f"{demo.url}/account/apps/?done=disconnected")
        await expect(page.locator("#notice")).to_contain_text("Disconnected")
        await expect(page.locator(WEB)).to_have_count(0)

        await page.goto(f"{demo.url}/client/")
        await page.click("#call-again")  # the client calls the API with the token it holds
        await expect(page).to_have_url(f"{demo.url}/client/")
        await expect(statuses).to_have_text(["401", "401", "401", "401"])
        await expect(page.locator("#results")).to_contain_text('error="invalid_token"')
        await page.click("#refresh")  # and its refresh token went with the grant
        await expect(page.locator("#client-error")).to_have_text(
            "The token endpoint answered 400 invalid_grant.")

        # Consent was forgotten too: the next sign-in of the client asks alice again.
        await page.click("#start")
        await expect(page).to_have_url(re.compile(r"/oauth/auth/\?"))
        await expect(page.locator("button[name=decision][value=approve]")).to_have_count(1)
