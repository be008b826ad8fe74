"""Which grant serves a request (RFC 6749 §3.1.1, §4, §5.2): by response type or grant type.

Both endpoints dispatch through one :class:`Grants` built from grant classes:
``auth/`` by ``response_type``, ``token/`` by ``grant_type``. A class serves the
halves it has (:mod:`.base`); two classes claiming one key is a configuration
error raised at construction, never a silent override. Every registered grant
is served whatever the server's ``grants`` option; whether the server and the
client allow one is the endpoints' check, so a switched-off grant answers
``unauthorized_client`` / ``unsupported_response_type`` as before.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TypeVar

from oauth_middleware.models import ResponseType
from oauth_middleware.server.config import ServerConfig
from oauth_middleware.server.grants.authorization_code import AuthorizationCodeGrant
from oauth_middleware.server.grants.base import AuthorizationGrant, Grant, TokenGrant
from oauth_middleware.server.grants.client_credentials import ClientCredentialsGrant
from oauth_middleware.server.grants.extensions import Extensions
from oauth_middleware.server.grants.implicit import ImplicitGrant
from oauth_middleware.server.grants.password import PasswordGrant
from oauth_middleware.server.grants.refresh_token import RefreshTokenGrant
from oauth_middleware.server.throttle import Throttle

V = TypeVar("V")

#: The grants a server serves unless given others.
DEFAULT_GRANTS: tuple[type[Grant], ...] = (
    AuthorizationCodeGrant, ImplicitGrant, RefreshTokenGrant, ClientCredentialsGrant,
    PasswordGrant,
)


class Grants:
    """The grants of one server, instantiated once, by the key each endpoint dispatches on."""

    def __init__(self, config: ServerConfig, throttle: Throttle,
                 classes: Iterable[type[Grant]] = DEFAULT_GRANTS,
                 extensions: Extensions | None = None) -> None:
        self.token: dict[str, TokenGrant] = {}
        self.authorization: dict[str, tuple[ResponseType, AuthorizationGrant]] = {}
        for cls in classes:
            grant = cls(config, throttle, (extensions or {}).get(cls, ()))
            if isinstance(grant, TokenGrant):
                _add(self.token, cls.GRANT_TYPE, grant, "grant_type")
            if isinstance(grant, AuthorizationGrant):
                for response_type in sorted(grant.RESPONSE_TYPES):
                    _add(self.authorization, response_type, (response_type, grant),
                         "response_type")

    def fragment(self, response_types: Iterable[str]) -> bool:
        """Do these response types answer in the fragment (RFC 6749 §4.2.2.1)? True when
        every one sent is a fragment one: a repeated ``token`` still asked for implicit."""
        sent = list(response_types)
        found = [self.authorization.get(t) for t in sent]
        return bool(sent) and all(f is not None and f[1].FRAGMENT for f in found)


def _add(table: dict[str, V], key: str, value: V, kind: str) -> None:
    if key in table:
        raise ValueError(f"Two grants serve the {kind} {key!r}: register one of them.")
    table[key] = value

