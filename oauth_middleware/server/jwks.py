"""The server's public keys (RFC 7517 §5) at ``jwks/``, the metadata's ``jwks_uri``
(RFC 8414 §2).

Only public members are ever served (the key ring strips private ones, and this
endpoint checks again). Relying parties may cache the set briefly: a new key is
looked up again by its unknown ``kid`` (RFC 7517 §4.5), and a rotated-out key stays
published long past that cache. A key that does not decrypt (another ``secret_key``,
an altered record) is a 503 and a log line naming its kid, never a 500.
"""

from __future__ import annotations

import json
import logging
from typing import ClassVar

from starlette.requests import Request
from starlette.responses import Response

from oauth_middleware.errors import TemporarilyUnavailable
from oauth_middleware.keyring import PRIVATE_MEMBERS, KeyRingError
from oauth_middleware.server.boundary import JsonEndpoint
from oauth_middleware.server.config import ServerConfig
from oauth_middleware.signing import SigningKeys

logger = logging.getLogger("oauth_middleware.server")

#: How long a relying party may keep the set (seconds).
MAX_AGE = 300


class JwksEndpoint(JsonEndpoint):
    methods: ClassVar[frozenset[str]] = frozenset({"GET", "HEAD"})

    def __init__(self, config: ServerConfig, keys: SigningKeys) -> None:
        super().__init__(config)
        self.keys = keys

    async def respond(self, request: Request, query: bytes) -> Response:
        try:
            jwks = await self.keys.public_jwks()
        except KeyRingError as exc:
            logger.error("jwks/ cannot publish the signing keys: %s", exc)
            raise TemporarilyUnavailable(retry_after=self.config.retry_after) from None
        public = [{k: v for k, v in jwk.items() if k not in PRIVATE_MEMBERS}
                  for jwk in jwks.get("keys", [])]
        return Response(json.dumps({"keys": public}, separators=(",", ":")),
                        media_type="application/jwk-set+json",
                        headers={"Cache-Control": f"public, max-age={MAX_AGE}"})
