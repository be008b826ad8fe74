"""The demo's "Sign in with OpenID Connect" in a real browser, then "Sign out everywhere".

Debian chromium (playwright), the demo started as ``python -m demo`` with real uvicorn
and a real redis-server. Alice signs in at /client/ through the login and consent pages;
the client app shows the ID token's claims it validated and the UserInfo answer; a second
sign-in skips the consent page (remembered); signing out everywhere goes through
``end_session/`` with the ID token as hint and ends the demo's own session too.
"""

from __future__ import annotations

import json
import re
import time

import pytest
from playwright.async_api import Page, expect

from tests.browser import chromium, screenshot_path
from tests.demo.harness import Demo

pytestmark = [pytest.mark.browser, pytest.mark.real_redis_only]


async def _shown(page: Page, selector: str) -> dict[str, object]:
    found: dict[str, object] = json.loads(await page.locator(selector).inner_text())
    return found


async def test_alice_signs_in_with_openid_connect_sees_her_claims_and_signs_out_everywhere(
    demo: Demo,
) -> None:
    async with chromium() as browser:
        page = await browser.new_page()
        await page.goto(f"{demo.url}/client/")
        await page.click("#oidc-start")
        await expect(page).to_have_url(re.compile(r"/login\?next="))
        await page.fill("#username", "alice")
        await page.fill("#password", "alice-password")
        signed_in_at = int(time.time())
        await page.click("button[type=submit]")
        await expect(page).to_have_url(re.compile(r"/oauth/auth/\?"))
        await expect(page.locator("form[method=post] input[name=scope]")).to_have_count(4)
        assert "Sign you in with your demo account" in await page.content()
        await page.click("button[name=decision][value=approve]")
        await expect(page).to_have_url(f"{demo.url}/client/")

        claims = await _shown(page, "#id-token-claims")
        assert claims["iss"] == f"{demo.url}/oauth" and claims["aud"] == "demo-web"
        assert claims["sub"] == "alice" and claims["amr"] == ["pwd"]
        assert isinstance(claims["nonce"], str) and len(claims["nonce"]) >= 43
        auth_time = claims["auth_time"]
        assert isinstance(auth_time, int) and signed_in_at - 1 <= auth_time <= time.time()
        assert await _shown(page, "#userinfo") == {
            "sub": "alice", "name": "Alice Liddell", "given_name": "Alice",
            "family_name": "Liddell", "preferred_username": "alice",
            "email": "alice@example.com", "email_verified": True,
            "phone_number": "+44 1865 000000", "phone_number_verified": False}
        text = await page.content()
        assert "Oxford" not in text  # no address scope: alice's address stays home
        assert "eyJ" not in text  # claims only: the ID token itself stays server side
        await page.screenshot(path=screenshot_path("oidc-claims.png"), full_page=True)

        await page.click("#oidc-start")  # remembered consent: straight back, signed in
        await expect(page).to_have_url(f"{demo.url}/client/")
        again = await _shown(page, "#id-token-claims")
        assert again["nonce"] != claims["nonce"] and again["auth_time"] == auth_time

        await page.click("#oidc-sign-out")
        await expect(page).to_have_url(f"{demo.url}/client/")
        await expect(page.locator("#oidc-signed-out")).to_be_visible()
        await expect(page.locator("#id-token-claims")).to_have_count(0)
        await expect(page.locator("header .who")).to_have_text("sign in")
        await page.click("#oidc-start")  # the demo's session ended: log in again
        await expect(page).to_have_url(re.compile(r"/login\?next="))
