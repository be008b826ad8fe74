"""Driving the demo over real HTTP: the demo process, a cookie-keeping user agent, its forms."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qsl, urlsplit

import httpx

from tests.server.authorize_harness import Page, read_page
from tests.servers import DemoProcess

#: demo-web's secret for the tests (the demo reads it from DEMO_CLIENT_SECRET).
WEB_SECRET = "test-demo-web-secret-0123456789"
#: The database the demo uses on the session's redis-server (the store fixture flushes db 0).
DEMO_DB = 5


@dataclass
class Demo:
    process: DemoProcess
    redis_url: str

    @property
    def url(self) -> str:
        return self.process.url


def location(response: httpx.Response) -> tuple[str, dict[str, str]]:
    """A 303's target path and its query parameters (each exactly once)."""
    assert response.status_code == 303, response.text
    parts = urlsplit(response.headers["location"])
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    assert len({k for k, _ in pairs}) == len(pairs)
    return parts.path, dict(pairs)


async def login(agent: httpx.AsyncClient, username: str, next_url: str) -> httpx.Response:
    """Fill in and submit the demo's login form like a person would."""
    form_page = await agent.get("/login", params={"next": next_url})
    assert form_page.status_code == 200
    page = read_page(form_page.text)
    return await agent.post("/login", data={
        "username": username, "password": f"{username}-password",
        "csrf": page.hidden("csrf"), "next": page.hidden("next"),
    })


async def consent(agent: httpx.AsyncClient, auth_url: str) -> tuple[str, Page]:
    """The consent page for ``auth_url``: (form action, page)."""
    response = await agent.get(auth_url)
    assert response.status_code == 200, response.text
    page = read_page(response.text)
    assert len(page.forms) == 1 and page.forms[0]["method"].lower() == "post"
    return page.forms[0]["action"], page


async def decide(agent: httpx.AsyncClient, action: str, page: Page, decision: str,
                 scopes: list[str] | None = None) -> httpx.Response:
    fields: dict[str, str | list[str]] = {
        i["name"]: i["value"] for i in page.inputs if i.get("type") == "hidden"}
    fields["scope"] = scopes if scopes is not None else [c["value"] for c in page.checkboxes()]
    fields["decision"] = decision
    return await agent.post(action, data=fields)
