"""Helpers of the dynamic registration tests (RFC 7591, RFC 7592)."""

from __future__ import annotations

from typing import Any

import httpx

from tests.server.authorize_harness import Harness

REGISTER = "/oauth/register/"
LOOPBACK = "http://127.0.0.1/callback"
INITIAL = "initial-access-token-0123456789"
MCP = {"redirect_uris": [LOOPBACK], "token_endpoint_auth_method": "none",
       "grant_types": ["authorization_code", "refresh_token"], "response_types": ["code"],
       "client_name": "Claude Desktop", "scope": "polls:read"}


def assert_refused(response: httpx.Response, status: int, error: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    assert response.headers["cache-control"] == "no-store"
    body: dict[str, Any] = response.json()
    assert body["error"] == error and set(body) == {"error", "error_description"}
    return body


async def register(harness: Harness, metadata: dict[str, Any], **headers: str) -> httpx.Response:
    return await harness.http.post(REGISTER, json=metadata, headers=headers)
