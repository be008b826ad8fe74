"""Real server flows whose tokens an export must carry, and helpers to read an export back."""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from typing import Any

import httpx

from oauth_middleware.security import digest
from oauth_middleware.store import TokenStore
from oauth_middleware.store._transfer import export
from oauth_middleware.store._transfer_write import Mode, Moved, import_lines
from tests.server.token_harness import (
    REVOKE_PATH,
    TOKEN_PATH,
    auth_of,
    build_app,
    code_form,
    confidential,
    http,
    new_code,
)


@dataclass
class Issued:
    """What the flows handed out, raw: none of it may appear in an export."""

    client_id: str
    secret: str
    code: str
    first: dict[str, Any]      # the code's tokens; its refresh token was rotated away
    current: dict[str, Any]    # the rotation's tokens: live at export time
    machine: dict[str, Any]    # client_credentials
    revoked: dict[str, Any]    # another grant's tokens, revoked at revoke/ before export

    def raw_values(self) -> list[str]:
        return [self.secret, self.code, *(
            tokens[name] for tokens in (self.first, self.current, self.machine, self.revoked)
            for name in ("access_token", "refresh_token") if name in tokens)]


async def token(http_client: httpx.AsyncClient, form: dict[str, str],
                auth: dict[str, str]) -> dict[str, Any]:
    response = await http_client.post(TOKEN_PATH, data=form, headers=auth)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def run_flows(store: TokenStore) -> Issued:
    """A code grant refreshed once, a client_credentials grant, a revoked grant, through
    the mounted server."""
    web = await confidential(store)
    auth = auth_of(web)
    async with http(build_app(store)) as client:
        code = await new_code(store, "web", scopes=("read", "write"))
        first = await token(client, code_form(code), auth)
        current = await token(client, {"grant_type": "refresh_token",
                                       "refresh_token": first["refresh_token"]}, auth)
        machine = await token(client, {"grant_type": "client_credentials", "scope": "read"},
                              auth)
        revoked = await token(client, code_form(await new_code(store, "web")), auth)
        answer = await client.post(REVOKE_PATH, headers=auth,
                                   data={"token": revoked["refresh_token"]})
        assert answer.status_code == 200, answer.text
    assert await store.resolve(revoked["access_token"]) is None
    assert web.client_secret is not None
    return Issued("web", web.client_secret, code, first, current, machine, revoked)


def access_key(store: TokenStore, access_token: str) -> str:
    return store.keys.access(access_token.partition(".")[0], digest(access_token))


async def exported(store: TokenStore) -> str:
    out = io.StringIO()
    await export(store, out, on_unknown=lambda key: None)
    return out.getvalue()


async def imported(store: TokenStore, text: str, mode: Mode = "empty", **options: Any) -> Moved:
    return await import_lines(store, io.BytesIO(text.encode()), mode=mode, **options)


def lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines()]


def joined(rows: list[dict[str, Any]]) -> str:
    return "".join(json.dumps(row) + "\n" for row in rows)
