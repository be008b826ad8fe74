"""Which grant serves a request (RFC 6749 §3.1.1, §4, §5.2): by response type or grant type.

Both endpoints dispatch through one :class:`Grants` built from grant classes:
``auth/`` by ``response_type``, ``token/`` by ``grant_type``. A class serves the
halves it has (:mod:`.base`); two classes claiming one key is a configuration
error raised when registered, never a silent override. Every registered grant
is served whatever the server's ``grants`` option; whether the server and the
client allow one is the endpoints' check, so a switched-off grant answers
``unauthorized_client`` / ``unsupported_response_type`` as before.
"""

from __future__ import annotations

from collections.abc import Iterable

from oauth_middleware.models import ResponseType
from oauth_middleware.server.config import ServerConfig
from oauth_middleware.server.grants.authorization_code import AuthorizationCodeGrant
from oauth_middleware.server.grants.base import AuthorizationGrant, Grant, TokenGrant
from oauth_middleware.server.grants.client_credentials import ClientCredentialsGrant
from oauth_middleware.server.grants.extensions import GrantExtension
from oauth_middleware.server.grants.implicit import ImplicitGrant
from oauth_middleware.server.grants.password import PasswordGrant
from oauth_middleware.server.grants.refresh_token import RefreshTokenGrant
from oauth_middleware.server.throttle import Throttle

#: The grants a server serves unless given others.
DEFAULT_GRANTS: tuple[type[Grant], ...] = (
    AuthorizationCodeGrant, ImplicitGrant, RefreshTokenGrant, ClientCredentialsGrant,
    PasswordGrant,
)


def normalised(response_type: str) -> str:
    """A response type with its space-delimited values sorted: "order does not matter"
    (RFC 6749 §3.1.1), so ``token id_token`` is ``id_token token``."""
    return " ".join(sorted(v for v in response_type.split(" ") if v))


class Grants:
    """The grants of one server, instantiated once, by the key each endpoint dispatches on.

    Both endpoints of a server share one registry, so a grant registered or extended
    here (at setup, before the first request) is served at ``auth/`` and ``token/``
    alike: ``server.grants.extend(AuthorizationCodeGrant, OpenIDCode())``.
    """

    def __init__(self, config: ServerConfig, throttle: Throttle,
                 classes: Iterable[type[Grant]] = DEFAULT_GRANTS) -> None:
        self.config = config
        self.throttle = throttle
        self.token: dict[str, TokenGrant] = {}
        self.authorization: dict[str, tuple[ResponseType, AuthorizationGrant]] = {}
        self.instances: dict[type[Grant], Grant] = {}
        for cls in classes:
            self.register(cls)

    def register(self, cls: type[Grant], *extensions: GrantExtension) -> Grant:
        """Serve ``cls`` at the endpoints of the halves it has; a key taken is refused."""
        grant = cls(self.config, self.throttle, extensions)
        keys = [cls.GRANT_TYPE] if isinstance(grant, TokenGrant) else []
        if keys and keys[0] in self.token:
            raise ValueError(f"Two grants serve the grant_type {keys[0]!r}: register one.")
        types = sorted(grant.RESPONSE_TYPES) if isinstance(grant, AuthorizationGrant) else []
        taken = next((t for t in types if t in self.authorization), None)
        if taken is not None:
            raise ValueError(f"Two grants serve the response_type {taken!r}: register one.")
        if isinstance(grant, TokenGrant):
            self.token[cls.GRANT_TYPE] = grant
        if isinstance(grant, AuthorizationGrant):
            self.authorization.update((t, (t, grant)) for t in types)
        self.instances[cls] = grant
        return grant

    def extend(self, cls: type[Grant], *extensions: GrantExtension) -> None:
        """Add ``extensions`` to the registered grant ``cls``, after those it has."""
        grant = self.instances.get(cls)
        if grant is None:
            raise ValueError(f"{cls.__name__} is not registered: register it first.")
        grant.extensions = (*grant.extensions, *extensions)

    def fragment(self, response_types: Iterable[str]) -> bool:
        """Do these response types answer in the fragment (RFC 6749 §4.2.2.1)? True when
        every one sent is a fragment one: a repeated ``token`` still asked for implicit."""
        sent = list(response_types)
        found = [self.authorization.get(normalised(t)) for t in sent]
        return bool(sent) and all(f is not None and f[1].FRAGMENT for f in found)
