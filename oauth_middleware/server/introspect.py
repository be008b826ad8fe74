"""Token introspection (RFC 7662): is this token active, and what does it stand for?

The caller must be authorized (§2.1 "MUST"): a confidential client
authenticating as at the token endpoint, or — when the server is configured
with ``introspection_scope`` — a bearer token carrying that scope, and only a
resource server's own token (client_credentials): a user's token carrying the
scope is refused, since any client may have asked a user to consent to it. A
client may introspect only tokens issued to itself; a token of another client
is "foreign" and answers exactly ``{"active": false}``, the same as unknown,
expired and revoked tokens, so the answer reveals nothing about tokens the
caller does not own. Only the bearer-scope caller sees every token. When Redis
is unreachable the answer is 503, never ``active: false``.
"""

from __future__ import annotations

import json

from starlette.requests import Request
from starlette.responses import Response

from oauth_middleware import extraction
from oauth_middleware.errors import InsufficientScope, InvalidClient, InvalidToken
from oauth_middleware.models import AccessToken, RefreshToken
from oauth_middleware.server.boundary import FormEndpoint
from oauth_middleware.server.client_auth import ClientAuthenticator
from oauth_middleware.server.config import ServerConfig
from oauth_middleware.server.form import Params
from oauth_middleware.server.grants.base import required
from oauth_middleware.server.responses import json_response
from oauth_middleware.server.throttle import Throttle
from oauth_middleware.store import Lookahead

INACTIVE: dict[str, object] = {"active": False}


def describe(record: AccessToken | RefreshToken, issuer: str) -> dict[str, object]:
    """The active answer (RFC 7662 §2.2); ``sub`` and ``username`` only when a user is the
    subject. A client_credentials token has neither: its subject is the client, named by
    ``client_id``, and a client id presented as ``sub`` could pass for a user of that name
    (RFC 9068 §5)."""
    body: dict[str, object] = {
        "active": True,
        "scope": " ".join(sorted(record.scopes)),
        "client_id": record.client_id,
        "token_type": _token_type(record),
        "iat": int(record.issued_at),
        "iss": issuer,
    }
    if record.subject_type == "user":
        body["sub"] = body["username"] = record.subject
    if record.expires_at is not None:
        body["exp"] = int(record.expires_at)
    if record.audience:  # RFC 7662 §2.2: a string, or an array of them
        audience = sorted(record.audience)
        body["aud"] = audience[0] if len(audience) == 1 else audience
    if isinstance(record, AccessToken) and record.act:  # RFC 8693 §4.1, §2.2.1 of RFC 7662
        body["act"] = json.loads(record.act)
    if record.jkt:  # RFC 9449 §6.2: the key a resource server must see a proof of
        body["cnf"] = {"jkt": record.jkt}
    return body


def _token_type(record: AccessToken | RefreshToken) -> str:
    if not isinstance(record, AccessToken):
        return "refresh_token"
    return "DPoP" if record.jkt else "Bearer"


class IntrospectionEndpoint(FormEndpoint):
    def __init__(self, config: ServerConfig) -> None:
        super().__init__(config)
        self.clients = ClientAuthenticator(
            config.store, Throttle(config.store, config.throttle, config.audit))

    async def answer(self, request: Request, params: Params) -> Response:
        caller, record = await self.caller(request, params)
        if record is None or (caller is not None and record.client_id != caller) or (
                isinstance(record, RefreshToken) and record.rotated):
            return json_response(INACTIVE)
        return json_response(describe(record, self.config.issuer))

    async def caller(
        self, request: Request, params: Params
    ) -> tuple[str | None, AccessToken | RefreshToken | None]:
        """The calling client's id (None for a bearer token with the introspection scope),
        and the record of the token asked about (read with the client in one round trip)."""
        scope = self.config.introspection_scope
        bearer = extraction.from_header(request.scope["headers"]) if scope else None
        if scope and bearer is not None:
            record = await self.store.resolve(bearer)
            if record is None or record.jkt:  # a bound token needs a proof (RFC 9449 §7.2)
                raise InvalidToken()
            # A resource server's own token only: a client may ask a user to consent to the
            # scope, and a user's token must not read every client's tokens (RFC 7662 §4).
            if scope not in record.scopes or record.subject_type != "client":
                raise InsufficientScope([scope])
            return None, await self.store.lookup(required(params, "token"))
        client, read = await self.clients.authenticate_ahead(
            request, params, ahead=Lookahead(token=params.get("token")))
        if client.public:
            raise InvalidClient("Public clients cannot introspect tokens.")
        required(params, "token")
        return client.client_id, read.token
