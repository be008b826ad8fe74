"""What the FastAPI, Flask and Django examples share: settings from the environment, their client.

``REDIS_URL`` (unset: the embedded in-process store), ``OAUTH_SECRET_KEY`` (unset: a
random one per process, enough for one local worker), ``OAUTH_ISSUER`` (the
authorization server's URL as clients reach it; ``http://127.0.0.1:8000/oauth`` by
default) and ``EXAMPLE_CLIENT_SECRET`` (unset: generated and printed once). An empty
value counts as unset, so ``REDIS_URL= uvicorn ...`` is the embedded store.

No flag for plain HTTP: the library accepts it from this machine to this machine
(loopback peer and ``Host``), so the default issuer works as it is, and a deployed
issuer (``https://api.example/oauth``) gets no exemption from the example.
"""

from __future__ import annotations

import os

from oauth_middleware import OAuth, TokenStore, ensure_client
from oauth_middleware.security import new_secret
from oauth_middleware.toolbox import EnsuredClient

CLIENT_ID = "example-service"
SCOPES = ("items:read", "items:write")
DEFAULT_ISSUER = "http://127.0.0.1:8000/oauth"


def env(name: str) -> str | None:
    """``os.environ[name]``, an empty value being unset (as a shell's ``NAME=`` means)."""
    return os.environ.get(name) or None


def oauth_from_env() -> OAuth:
    """One configuration for the example's middleware and server, so they cannot disagree."""
    return OAuth(store=TokenStore.from_url(env("REDIS_URL")),
                 issuer=env("OAUTH_ISSUER") or DEFAULT_ISSUER,
                 secret_key=env("OAUTH_SECRET_KEY") or new_secret(32))


async def provision(store: TokenStore) -> EnsuredClient:
    """Make ``example-service`` match what the example needs, at every start of every worker.

    ``ensure_client`` is idempotent and race-safe, and never rotates a secret it is
    given; a secret it generates is returned only to the one call that created the
    client, so it is printed once, by one worker.
    """
    given = env("EXAMPLE_CLIENT_SECRET")
    ensured = await ensure_client(store, CLIENT_ID, "Example service", public=False,
                                  client_secret=given, grant_types=["client_credentials"],
                                  scopes_list=SCOPES)
    if ensured.client_secret is not None:
        print(f"{CLIENT_ID} client secret (generated, shown once; set EXAMPLE_CLIENT_SECRET "
              f"to choose it): {ensured.client_secret}", flush=True)
    elif given is None:
        print(f"{CLIENT_ID} is already registered: use the secret printed when it was, "
              "or set EXAMPLE_CLIENT_SECRET", flush=True)
    return ensured
