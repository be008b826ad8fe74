"""A client registered by the CLI is a real client: it completes client_credentials at token/."""

from __future__ import annotations

import httpx
from starlette.applications import Starlette
from starlette.routing import Mount

from oauth_middleware.models import AccessToken
from oauth_middleware.server import AuthorizationServer
from oauth_middleware.store import TokenStore
from tests.cli.harness import Cli


def test_cli_client_completes_client_credentials_against_the_server(cli: Cli) -> None:
    added = cli.json("client", "add", "Machine", "--confidential",
                     "--redirect-uri", "https://machine.example/cb",
                     "--grant-type", "client_credentials", "--scope", "reports:read",
                     "--register-scopes", "--token-lifetime", "600")
    client_id, secret = added["client_id"], added["client_secret"]

    async def grant(store: TokenStore) -> tuple[httpx.Response, AccessToken | None]:
        server = AuthorizationServer(store=store, issuer="https://auth.example/oauth",
                                     secret_key=b"k" * 32)
        app = Starlette(routes=[Mount("/oauth", server)])
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                     base_url="https://auth.example") as http:
            answer = await http.post("/oauth/token/", auth=(client_id, secret), data={
                "grant_type": "client_credentials", "scope": "reports:read"})
        record = await store.resolve(answer.json().get("access_token", ""))
        return answer, record

    answer, record = cli.run(grant)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 600
    assert body["scope"] == "reports:read" and "refresh_token" not in body
    listed = cli.json("token", "list", "--client-id", client_id)
    assert [t["subject"] for t in listed] == [client_id]
    assert record is not None and record.subject_type == "client"
