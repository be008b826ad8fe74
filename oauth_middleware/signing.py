"""The keys the authorization server signs with (RFC 7515, RFC 7517): one interface for
ID tokens (OpenID Connect Core 1.0 §2) and JWT access tokens (RFC 9068).

Both need the same two things: the current private key for an algorithm, to sign, and
every public key a relying party may still meet, to publish at ``jwks_uri``. Where the
keys come from — the shared store (rotated, encrypted at rest) or files the operator
gives — is the implementation's business; the grants see only this protocol.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:  # joserfc is the ``jwt`` extra: a server without signed tokens needs none
    from joserfc.jwk import Key


@runtime_checkable
class SigningKeys(Protocol):
    """A key ring the authorization server signs with."""

    #: The JWS algorithms it can sign with, preferred first (``RS256`` is always one:
    #: OpenID Connect Core 1.0 §15.1 requires it).
    algorithms: tuple[str, ...]

    async def signing_key(self, alg: str) -> Key:
        """The current private key for ``alg``, its ``kid`` set; ``LookupError`` if none."""
        ...

    async def public_jwks(self) -> dict[str, Any]:
        """``{"keys": [...]}``: every public key still published (current and rotated-out
        keys whose tokens may not have expired yet), never a private member."""
        ...
