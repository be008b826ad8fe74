"""The consent page of a client that registered itself (RFC 7591), in a real browser.

Debian chromium (playwright) against the demo (real uvicorn, real redis-server): the
page says the application is unverified, and approving sends a code to the client's
loopback redirect URI (intercepted: nothing listens there), which redeems it.
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest
from playwright.async_api import Route, expect

from tests.browser import chromium, screenshot_path
from tests.demo.harness import Demo

pytestmark = [pytest.mark.browser, pytest.mark.real_redis_only]

REDIRECT_URI = "http://127.0.0.1:33419/callback"


async def test_the_consent_page_says_a_registered_client_is_unverified_and_approving_works(
    demo: Demo,
) -> None:
    async with httpx.AsyncClient(base_url=demo.url) as http:
        registered = await http.post("/oauth/register/", json={
            "client_name": "Poll assistant (self-registered)", "redirect_uris": [REDIRECT_URI],
            "token_endpoint_auth_method": "none", "scope": "polls:results polls:vote"})
    assert registered.status_code == 201, registered.text
    client_id = registered.json()["client_id"]
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(
        hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    resource = f"{demo.url}/mcp"
    query = urlencode({"response_type": "code", "client_id": client_id, "state": "s-1",
                       "redirect_uri": REDIRECT_URI, "scope": "polls:results polls:vote",
                       "code_challenge": challenge, "code_challenge_method": "S256",
                       "resource": resource})
    async with chromium() as browser:
        page = await browser.new_page()
        landed: list[str] = []

        async def callback(route: Route) -> None:
            landed.append(route.request.url)
            await route.fulfill(status=200, body="signed in", content_type="text/plain")

        await page.route(re.compile(r"^http://127\.0\.0\.1:33419/"), callback)
        await page.goto(f"{demo.url}/oauth/auth/?{query}")
        await expect(page).to_have_url(re.compile(r"/login\?next="))
        await page.fill("#username", "alice")
        await page.fill("#password", "alice-password")
        await page.click("button[type=submit]")
        await expect(page).to_have_url(re.compile(r"/oauth/auth/\?"))
        warning = page.locator("#client-unverified")
        await expect(warning).to_be_visible()
        await expect(warning).to_contain_text("Unverified application")
        await expect(warning).to_contain_text("it registered itself")
        await expect(page.locator("#client")).to_have_text("Poll assistant (self-registered)")
        await expect(page.locator("#resources")).to_contain_text(resource)
        await page.screenshot(path=screenshot_path("consent-dynamic-client.png"), full_page=True)
        await page.click("button[name=decision][value=approve]")
        await expect(page.locator("body")).to_have_text("signed in")
    [url] = landed
    params = parse_qs(urlsplit(url).query)
    assert url.startswith(REDIRECT_URI + "?") and params["state"] == ["s-1"]
    async with httpx.AsyncClient(base_url=demo.url) as http:
        issued = await http.post("/oauth/token/", data={
            "grant_type": "authorization_code", "code": params["code"][0],
            "redirect_uri": REDIRECT_URI, "client_id": client_id, "code_verifier": verifier,
            "resource": resource})
        assert issued.status_code == 200, issued.text
        token = issued.json()
        me = await http.get("/api/me", headers={
            "Authorization": f"Bearer {token['access_token']}"})
    assert token["scope"] == "polls:results polls:vote"
    assert me.json() == {"user": "alice", "client_id": client_id,
                         "scopes": ["polls:results", "polls:vote"]}
