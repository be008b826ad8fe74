"""App factory for the DPoP round trips: ``uvicorn --factory tests.dpop.uvicorn_app:build``.

The server and ``/me`` of :mod:`tests.dpop.apps` on the Redis named by ``REDIS_URL``,
debug mode (plain HTTP on loopback), the issuer and the middleware's public URL both
from ``OM_BASE`` (``http://127.0.0.1:<port>``), server nonces rotating every minute.
"""

from __future__ import annotations

import os

from starlette.applications import Starlette

from oauth_middleware import TokenStore
from tests.dpop.apps import build_app


def build() -> Starlette:
    base = os.environ["OM_BASE"]
    return build_app(TokenStore.from_url(os.environ["REDIS_URL"]), issuer=f"{base}/oauth",
                     public_url=base, debug=True, dpop_nonce=60)
