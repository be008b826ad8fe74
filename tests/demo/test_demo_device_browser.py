"""Sign in a device in a real browser (RFC 8628): the demo's page plays the TV, alice allows it.

Debian chromium (playwright), the demo as ``python -m demo`` on real uvicorn and a real
redis-server. The device page shows a user code; in a second tab alice signs in, enters
it at /oauth/device, sees the TV and its permission, allows it; the device's next poll
gets its token. Screenshots go to artifacts/screenshots/.
"""

from __future__ import annotations

import re

import pytest
from playwright.async_api import expect

from tests.browser import chromium, screenshot_path
from tests.demo.harness import Demo

pytestmark = [pytest.mark.browser, pytest.mark.real_redis_only]


@pytest.mark.rule("device.page.confirm")
async def test_alice_enters_the_code_allows_the_device_and_its_poll_gets_a_token(
        demo: Demo) -> None:
    async with chromium() as browser:
        context = await browser.new_context()
        tv = await context.new_page()
        await tv.goto(f"{demo.url}/client/")
        await tv.click("#device-link")
        await tv.click("#start-device")
        user_code = (await tv.locator("#user-code").inner_text()).strip()
        assert re.fullmatch(r"[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}", user_code)
        await tv.click("#check")
        await expect(tv.locator("#device-result")).to_have_text(
            "The server answered authorization_pending.")

        phone = await context.new_page()
        await phone.goto(f"{demo.url}/oauth/device")
        await expect(phone).to_have_url(re.compile(r"/login\?next="))
        await phone.fill("#username", "alice")
        await phone.fill("#password", "alice-password")
        await phone.click("button[type=submit]")
        await expect(phone).to_have_url(re.compile(r"/oauth/device$"))
        await phone.fill("#user_code", user_code.lower().replace("-", " "))
        await phone.click("button[type=submit]")
        await expect(phone.locator("#client")).to_have_text("Demo TV (device sign-in)")
        await expect(phone.locator("#code")).to_have_text(user_code)
        await phone.screenshot(path=screenshot_path("device-confirm.png"), full_page=True)
        await phone.click("button[name=decision][value=approve]")
        await expect(phone.locator("#outcome")).to_have_text("Device connected")

        await tv.click("#check")
        await expect(tv.locator("#device-result")).to_contain_text(
            "Signed in: a token for polls:results")
        await tv.screenshot(path=screenshot_path("device-signed-in.png"), full_page=True)
