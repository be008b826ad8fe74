"""No secret in any log line, repr or error body (SECURITY.md "At rest, in memory, in logs")."""

from __future__ import annotations

import logging

import pytest

from oauth_middleware.server.client_auth import Presented
from oauth_middleware.store import TokenStore
from tests.server.token_harness import (
    INTROSPECT_PATH,
    REVOKE_PATH,
    TOKEN_PATH,
    VERIFIER,
    auth_of,
    basic,
    build_app,
    code_form,
    confidential,
    http,
    new_code,
)


@pytest.mark.rule("rest.no-secret-in-logs")
async def test_a_whole_token_lifecycle_logs_no_secret(
    store: TokenStore, caplog: pytest.LogCaptureFixture
) -> None:
    web = await confidential(store, grant_types=["authorization_code", "refresh_token",
                                                 "password"])
    app = build_app(store, verify_password=lambda user, password: None)
    code = await new_code(store, "web")
    seen: list[str] = []
    with caplog.at_level(logging.DEBUG):
        async with http(app) as client:
            await client.post(TOKEN_PATH, data={"grant_type": "client_credentials"},
                              headers=basic("web", "guessed-secret"))
            await client.post(TOKEN_PATH, headers=auth_of(web), data={
                "grant_type": "password", "username": "alice", "password": "hunter2"})
            first = (await client.post(TOKEN_PATH, data=code_form(code),
                                       headers=auth_of(web))).json()
            replay = await client.post(TOKEN_PATH, data=code_form(code), headers=auth_of(web))
            code2 = await new_code(store, "web")
            second = (await client.post(TOKEN_PATH, data=code_form(code2),
                                        headers=auth_of(web))).json()
            rotated = (await client.post(TOKEN_PATH, headers=auth_of(web), data={
                "grant_type": "refresh_token", "refresh_token": second["refresh_token"]})).json()
            reuse = await client.post(TOKEN_PATH, headers=auth_of(web), data={
                "grant_type": "refresh_token", "refresh_token": second["refresh_token"]})
            for path in (INTROSPECT_PATH, REVOKE_PATH):
                await client.post(path, headers=auth_of(web),
                                  data={"token": rotated["access_token"]})
            seen = [replay.text, reuse.text]
    assert "replayed" in caplog.text and "reused" in caplog.text  # the events are logged...
    assert web.client_secret is not None
    secrets = [web.client_secret, "guessed-secret", "hunter2", code, code2, VERIFIER,
               first["access_token"], first["refresh_token"], second["access_token"],
               second["refresh_token"], rotated["access_token"], rotated["refresh_token"]]
    for secret in secrets:  # ...but never what leaked: neither whole nor its secret half
        assert secret not in caplog.text
        assert secret.split(".")[-1] not in caplog.text
        assert all(secret not in text for text in seen)


@pytest.mark.rule("rest.no-secret-in-logs")
def test_presented_credentials_never_show_the_secret() -> None:
    creds = Presented("web", "s3cret-value", "client_secret_basic")
    assert "s3cret" not in repr(creds) and "s3cret" not in str(creds)


@pytest.mark.rule("rest.no-secret-in-logs", "token.client-auth.failure")
async def test_a_secret_sent_as_the_client_id_is_not_logged(
    store: TokenStore, caplog: pytest.LogCaptureFixture
) -> None:
    """A client configured with its id and secret swapped sends the secret where the id
    goes; the failure's log line named the client by what was sent."""
    web = await confidential(store)
    assert web.client_secret is not None
    with caplog.at_level(logging.INFO, logger="oauth_middleware.server"):
        async with http(build_app(store)) as client:
            swapped = await client.post(TOKEN_PATH, data={"grant_type": "client_credentials"},
                                        headers=basic(web.client_secret, "web"))
            posted = await client.post(TOKEN_PATH, data={
                "grant_type": "client_credentials", "client_id": web.client_secret,
                "client_secret": "web"})
            known = await client.post(TOKEN_PATH, data={"grant_type": "client_credentials"},
                                      headers=basic("web", "wrong-secret"))
    for response in (swapped, posted, known):
        assert response.status_code == 401 and response.json()["error"] == "invalid_client"
    failures = [r.getMessage() for r in caplog.records if "authentication failed" in r.message]
    assert len(failures) == 3
    assert web.client_secret not in caplog.text and web.client_secret[:16] not in caplog.text
    assert failures[2] == "client authentication failed (client_secret_basic) for 'web'"
