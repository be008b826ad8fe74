"""The demo in a real browser: log in as alice, approve consent, see the protected results.

Debian chromium (playwright), the demo started as ``python -m demo`` with real
uvicorn and a real redis-server. A second run goes through without the consent page
(the demo remembers consent); alice signs out with the header's button (a POST with the
session's CSRF token), and bob, asked, denies and sees access_denied.
Screenshots of the consent page and the client app's results page are written
to artifacts/screenshots/ (the README says so).
"""

from __future__ import annotations

import re

import pytest
from playwright.async_api import Page, expect

from tests.browser import chromium, screenshot_path
from tests.demo.harness import Demo

pytestmark = [pytest.mark.browser, pytest.mark.real_redis_only]


async def _to_consent(page: Page, demo: Demo) -> None:
    await page.goto(f"{demo.url}/client/")
    await page.click("#start")
    await expect(page).to_have_url(re.compile(r"/login\?next="))
    await page.fill("#username", "alice")
    await page.fill("#password", "alice-password")
    await page.click("button[type=submit]")
    await expect(page).to_have_url(re.compile(r"/oauth/auth/\?"))


async def test_alice_approves_and_sees_protected_results_then_a_denial(demo: Demo) -> None:
    async with chromium() as browser:
        page = await browser.new_page()
        await _to_consent(page, demo)
        await expect(page.locator("form[method=post] input[name=scope]")).to_have_count(3)
        assert "Demo web client" in await page.content()
        await page.screenshot(path=screenshot_path("consent.png"), full_page=True)
        await page.click("button[name=decision][value=approve]")
        await expect(page).to_have_url(f"{demo.url}/client/")
        rows = page.locator("#results tr.call")
        await expect(rows).to_have_count(4)
        statuses = await page.locator("#results tr.call td.status").all_inner_texts()
        assert statuses == ["200", "200", "200", "200"]
        assert '"user":"alice"' in await page.locator("#results").inner_text()
        await page.screenshot(path=screenshot_path("client-results.png"), full_page=True)

        # A second run, still signed in: the demo remembers alice's consent, so no page
        # is shown and the API is called again (a second vote).
        await page.click("#start")
        await expect(page).to_have_url(f"{demo.url}/client/")
        await expect(page.locator("#results")).to_contain_text('"total_votes":2')

        await page.click("#sign-out")  # a POST with the session's CSRF token
        await expect(page).to_have_url(f"{demo.url}/")
        await expect(page.locator("header .who")).to_have_text("sign in")
        await page.goto(f"{demo.url}/client/")
        await page.click("#start")  # signed out: the flow asks for the login again
        await expect(page).to_have_url(re.compile(r"/login\?next="))
        await page.fill("#username", "bob")  # bob never approved: he is asked, and denies
        await page.fill("#password", "bob-password")
        await page.click("button[type=submit]")
        await page.click("button[name=decision][value=deny]")
        await expect(page).to_have_url(f"{demo.url}/client/")
        await expect(page.locator("#client-error")).to_have_text(
            "The server answered access_denied.")


async def test_implicit_flow_puts_the_token_in_the_fragment_for_the_spa(demo: Demo) -> None:
    async with chromium() as browser:
        page = await browser.new_page()
        await page.goto(f"{demo.url}/client/spa")
        await page.click("a[href^='/oauth/auth/']")
        await expect(page).to_have_url(re.compile(r"/login\?next="))
        await page.fill("#username", "bob")
        await page.fill("#password", "bob-password")
        await page.click("button[type=submit]")
        await page.click("button[name=decision][value=approve]")
        await expect(page).to_have_url(f"{demo.url}/client/spa")  # fragment read and removed
        await expect(page.locator("#fragment")).to_contain_text('scope "polls:results"')
        await page.click("#call")
        await expect(page.locator("#answer")).to_contain_text('"user":"bob"')
        await expect(page.locator("#answer")).to_contain_text("200")
