"""What the Flask and Django examples share: settings from the environment and their client.

``REDIS_URL`` (unset: the embedded in-process store), ``OAUTH_SECRET_KEY`` (unset: a
random one per process, enough for one local worker), ``OAUTH_ISSUER`` (the
authorization server's URL as clients reach it; ``http://127.0.0.1:8000/oauth`` by
default) and ``EXAMPLE_CLIENT_SECRET`` (unset: generated and printed once). An empty
value counts as unset.

:func:`provision` registers the confidential client ``example-service`` at every
start. It must survive a restart against the same Redis and every worker running
it at once: registration itself is atomic (only one worker creates the client),
the others find it and check it. A client that differs from what is asked is
replaced only when the secret was given (every worker then writes the same thing);
a generated secret never overwrites a registered client, or each worker would
print a different secret and only the last would work.
"""

from __future__ import annotations

import os

from oauth_middleware import Client, TokenStore, register_client
from oauth_middleware.security import new_secret, verify_client_secret
from oauth_middleware.toolbox import ClientExists

CLIENT_ID = "example-service"
SCOPES = ("items:read", "items:write")
GRANTS = ("client_credentials",)

ISSUER = os.environ.get("OAUTH_ISSUER") or "http://127.0.0.1:8000/oauth"
SECRET_KEY = os.environ.get("OAUTH_SECRET_KEY") or new_secret(32)


def store_from_env() -> TokenStore:
    return TokenStore.from_url(os.environ.get("REDIS_URL") or None)


def _matches(client: Client | None, secret: str) -> bool:
    return (client is not None and not client.public
            and verify_client_secret(client.secret_hash, secret)
            and set(client.grant_types) == set(GRANTS) and set(client.scopes) == set(SCOPES))


async def _register(store: TokenStore, secret: str, *, replace: bool = False) -> None:
    await register_client(store, "Example service", CLIENT_ID, public=False,
                          grant_types=GRANTS, scopes_list=SCOPES, client_secret=secret,
                          replace_existing=replace)


async def provision(store: TokenStore) -> None:
    """Make sure ``example-service`` exists with the secret, grant and scopes asked."""
    given = os.environ.get("EXAMPLE_CLIENT_SECRET")
    secret = given or new_secret()
    try:
        await _register(store, secret)
    except ClientExists:  # a restart, or another worker was first
        if given and not _matches(await store.get_client(CLIENT_ID), given):
            await _register(store, given, replace=True)
        elif not given:
            print(f"{CLIENT_ID} is already registered: use the secret printed when it was, "
                  "or set EXAMPLE_CLIENT_SECRET", flush=True)
        return
    if not given:
        print(f"{CLIENT_ID} client secret (set EXAMPLE_CLIENT_SECRET to choose it): {secret}",
              flush=True)
