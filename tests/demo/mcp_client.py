"""The official ``mcp`` SDK's OAuth client, driven against the demo: a person logs in and
approves over HTTP (httpx, the demo's own forms), the SDK does everything else."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from urllib.parse import parse_qsl, urlsplit

import httpx
import httpx2
from mcp.client.auth import AuthorizationCodeResult, OAuthClientProvider
from mcp.client.session import ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth import OAuthClientInformationFull, OAuthClientMetadata, OAuthToken

from tests.demo.harness import consent, decide, location, login

#: The loopback redirect URI the SDK client registers (nothing listens there: the test
#: reads the code from the consent's 303, as the client's local listener would).
REDIRECT_URI = "http://127.0.0.1:33418/callback"


class MemoryStorage:
    """The SDK's ``TokenStorage``, in memory."""

    def __init__(self) -> None:
        self.tokens: OAuthToken | None = None
        self.client_info: OAuthClientInformationFull | None = None

    async def get_tokens(self) -> OAuthToken | None:
        return self.tokens

    async def set_tokens(self, tokens: OAuthToken) -> None:
        self.tokens = tokens

    async def get_client_info(self) -> OAuthClientInformationFull | None:
        return self.client_info

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        self.client_info = client_info


class Person:
    """The SDK's redirect and callback handlers: a user who logs in and approves."""

    def __init__(self, base_url: str, username: str, scopes: list[str] | None = None) -> None:
        self.base_url = base_url
        self.username = username
        self.scopes = scopes
        self.authorization_urls: list[str] = []
        self.consent_texts: list[str] = []
        self._result: AuthorizationCodeResult | None = None

    async def redirect(self, authorization_url: str) -> None:
        self.authorization_urls.append(authorization_url)
        async with httpx.AsyncClient(base_url=self.base_url, follow_redirects=False) as agent:
            to_login = await agent.get(authorization_url)
            logged_in = await login(agent, self.username, location(to_login)[1]["next"])
            action, page = await consent(agent, logged_in.headers["location"])
            self.consent_texts.append(page.text)
            approved = await decide(agent, action, page, "approve", scopes=self.scopes)
        params = dict(parse_qsl(urlsplit(approved.headers["location"]).query))
        assert approved.headers["location"].startswith(REDIRECT_URI + "?")
        self._result = AuthorizationCodeResult(code=params["code"], state=params.get("state"),
                                               iss=params.get("iss"))

    async def callback(self) -> AuthorizationCodeResult:
        assert self._result is not None
        return self._result


def provider(base_url: str, person: Person, storage: MemoryStorage) -> OAuthClientProvider:
    return OAuthClientProvider(
        server_url=f"{base_url}/mcp",
        client_metadata=OAuthClientMetadata(
            client_name="SDK test client", redirect_uris=[REDIRECT_URI],  # type: ignore[list-item]
            grant_types=["authorization_code", "refresh_token"],
            token_endpoint_auth_method="none"),
        storage=storage, redirect_handler=person.redirect, callback_handler=person.callback)


@contextlib.asynccontextmanager
async def mcp_session(base_url: str, auth: httpx2.Auth) -> AsyncIterator[ClientSession]:
    async with httpx2.AsyncClient(auth=auth, timeout=30) as http, \
            streamable_http_client(f"{base_url}/mcp", http_client=http) as (read, write), \
            ClientSession(read, write) as session:
        await session.initialize()
        yield session
