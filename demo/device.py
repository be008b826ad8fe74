""""Sign in a device" (RFC 8628): the demo's TV client, and a page playing the TV.

``demo-tv`` is a public client allowed the device grant. ``/client/device`` shows the
command a real device would run (``oauth-middleware device-login``) and can play the
device itself: it asks the server for codes, shows the user code and where to enter it
(``/oauth/device``, opened in another tab where alice signs in and allows it), and its
"Check" button polls the token endpoint once, as a device does every few seconds.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from demo.render import page
from oauth_middleware.store import TokenStore
from oauth_middleware.toolbox import register_client

DEVICE_CLIENT = "demo-tv"
DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
SCOPE = "polls:results"


async def seed_device(store: TokenStore) -> None:
    """Register the TV (idempotent): public, the device grant only, the polls' results."""
    await register_client(
        store, "Demo TV (device sign-in)", DEVICE_CLIENT, public=True,
        scopes_list=[SCOPE], replace_existing=True, grant_types=[DEVICE_GRANT],
        description="A device without a browser: it shows a code to enter at /oauth/device.",
    )


class DeviceDemo:
    """The page playing the device; ``http`` opens a connection to the demo's own server."""

    def __init__(self, *, base_url: str, http: Callable[[], httpx.AsyncClient]) -> None:
        self.base_url = base_url.rstrip("/")
        self.http = http

    @property
    def routes(self) -> list[Route]:
        return [Route("/client/device", self.show, methods=["GET", "POST"]),
                Route("/client/device/check", self.check, methods=["POST"])]

    def render(self, request: Request, **context: Any) -> Response:
        command = (f"oauth-middleware device-login --issuer {self.base_url}/oauth "
                   f"--client-id {DEVICE_CLIENT} --scope {SCOPE}")
        return page(request, "device.html", {"command": command, "codes": None,
                                             "result": None, **context})

    async def show(self, request: Request) -> Response:
        """GET: how to start; POST: start, as the device, and show the code."""
        if request.method == "GET":
            return self.render(request)
        async with self.http() as http:
            answer = await http.post("/oauth/device_authorization/",
                                     data={"client_id": DEVICE_CLIENT, "scope": SCOPE})
        return self.render(request, codes=answer.json())

    async def check(self, request: Request) -> Response:
        """Poll once with the device code the page carries (this page is the device)."""
        form = await request.form()
        device_code = str(form.get("device_code", ""))[:128]
        async with self.http() as http:
            answer = await http.post("/oauth/token/", data={
                "grant_type": DEVICE_GRANT, "device_code": device_code,
                "client_id": DEVICE_CLIENT})
        body = answer.json()
        result = {"error": body.get("error")} if "error" in body else {
            "scope": body.get("scope"), "token": str(body.get("access_token", ""))[:8] + "…"}
        codes = {"user_code": form.get("user_code", ""), "device_code": device_code,
                 "verification_uri": f"{self.base_url}/oauth/device"}
        return self.render(request, codes=None if "error" not in body else codes, result=result)
