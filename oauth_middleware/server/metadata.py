"""Authorization server metadata (RFC 8414 §2-3) at ``/.well-known/oauth-authorization-server``.

Every URL is built from the configured issuer, never from the Host header
(RFC 8414 §3.3: the ``issuer`` in the document MUST be identical to the one the
client expected). The document reflects the server's switches: grant types
enabled, ``token`` among the response types only while the implicit grant is
on, and only scopes that are enabled. ``authorization_response_iss_parameter_supported``
(RFC 9207 §3): every authorization response carries ``iss``. An OpenID Provider adds
its members (:mod:`.oidc.discovery`).
"""

from __future__ import annotations

from typing import ClassVar

from starlette.requests import Request
from starlette.responses import Response

from oauth_middleware.server.boundary import JsonEndpoint
from oauth_middleware.server.client_auth import AUTH_METHODS
from oauth_middleware.server.config import ServerConfig
from oauth_middleware.server.oidc.discovery import openid_members
from oauth_middleware.server.responses import json_response

#: Introspection needs real client authentication (RFC 7662 §2.1): no ``none``.
INTROSPECTION_AUTH_METHODS = ("client_secret_basic", "client_secret_post")


#: Response types and the grant each needs; the OpenID ones only on an OpenID Provider.
_RESPONSE_TYPES = (("code", "authorization_code"), ("token", "implicit"))
_OPENID_RESPONSE_TYPES = (("id_token", "implicit"), ("id_token token", "implicit"))


def document(config: ServerConfig, scopes: list[str]) -> dict[str, object]:
    grants = config.grant_types
    offered = _RESPONSE_TYPES + (_OPENID_RESPONSE_TYPES if config.openid else ())
    response_types = [name for name, grant in offered if grant in grants]
    registration: dict[str, object] = {"registration_endpoint": config.url("register/")} \
        if config.registration else {}
    if config.client_metadata_documents is not None:  # CIMD draft §5
        registration["client_id_metadata_document_supported"] = True
    jwks = {"jwks_uri": config.url("jwks/")} if config.signing_keys is not None else {}
    return {
        "issuer": config.issuer,
        "authorization_endpoint": config.url("auth/"),
        "token_endpoint": config.url("token/"),
        "revocation_endpoint": config.url("revoke/"),
        "introspection_endpoint": config.url("introspect/"),
        "scopes_supported": scopes,
        "response_types_supported": response_types,
        "response_modes_supported": ["query", "fragment"]
        if "token" in response_types or "id_token" in response_types
        else ["query"],
        "grant_types_supported": sorted(grants),
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": list(AUTH_METHODS),
        "revocation_endpoint_auth_methods_supported": list(AUTH_METHODS),
        "introspection_endpoint_auth_methods_supported": list(INTROSPECTION_AUTH_METHODS),
        **registration,
        **({"end_session_endpoint": config.url("end_session/")} if config.logout else {}),
        **jwks,
        "authorization_response_iss_parameter_supported": True,
        **openid_members(config),
    }


class MetadataEndpoint(JsonEndpoint):
    methods: ClassVar[frozenset[str]] = frozenset({"GET", "HEAD"})

    async def respond(self, request: Request, query: bytes) -> Response:
        scopes = [s.identifier for s in await self.store.list_scopes() if s.enabled]
        return json_response(document(self.config, scopes))
