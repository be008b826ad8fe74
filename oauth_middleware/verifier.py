"""What the middleware asks of a token source (RFC 6750 §2; RFC 7662 and RFC 9068 fit too).

:class:`OAuthMiddleware` needs one call: ``await verifier.resolve(token)``, the
token's :class:`AccessToken` when it is live, ``None`` when it is unknown,
expired or revoked. :class:`TokenStore` is one verifier; a JWT validator or a
remote introspection client is another. A verifier that cannot decide (its
backend is down) raises :class:`StoreUnavailable`: the request then fails
closed with 503, never ``invalid_token``.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from oauth_middleware.models import AccessToken


@runtime_checkable
class TokenVerifier(Protocol):
    """``async resolve(token) -> AccessToken | None``; raise ``StoreUnavailable`` to fail closed."""

    async def resolve(self, token: str) -> AccessToken | None:
        """The live record of ``token``, or None when it is not a live token."""
