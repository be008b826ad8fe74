"""``uvicorn --factory tests.server.document_client_app:build``: the auth/ host app with
client metadata documents on, reaching only the test's document server (its names map
to 127.0.0.1, its CA from ``OM_DOC_CA``); every answer names its worker in ``x-worker-pid``."""

from __future__ import annotations

import os
import ssl

from starlette.applications import Starlette

from oauth_middleware import TokenStore
from oauth_middleware.server import AuthorizationServer, ClientMetadataPolicy
from tests.cache_app import WorkerPid
from tests.document_server import NAMES
from tests.server.authorize_harness import SECRET_KEY, host_app


async def resolve(host: str, port: int) -> list[str]:
    if host in NAMES:
        return ["127.0.0.1"]
    raise OSError(f"no such test host {host}")


def build() -> Starlette:
    policy = ClientMetadataPolicy(
        allowed_networks=("127.0.0.1/32",), resolver=resolve,
        tls_context=ssl.create_default_context(cafile=os.environ["OM_DOC_CA"]))
    server = AuthorizationServer(store=TokenStore.from_url(os.environ["REDIS_URL"]),
                                 issuer=os.environ["OM_ISSUER"], secret_key=SECRET_KEY,
                                 debug=True, client_metadata_documents=policy)
    app = host_app(server)
    app.add_middleware(WorkerPid)
    return app
