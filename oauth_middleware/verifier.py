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
from oauth_middleware.store import TokenStore


@runtime_checkable
class TokenVerifier(Protocol):
    """``async resolve(token) -> AccessToken | None``; raise ``StoreUnavailable`` to fail closed."""

    async def resolve(self, token: str) -> AccessToken | None:
        """The live record of ``token``, or None when it is not a live token."""


def token_source(store: TokenStore | None, verifier: TokenVerifier | None) -> TokenVerifier:
    """The middleware's one token source, checked at construction: a Redis URL given as
    ``store``, both sources or neither is a mistake named here (STYLE rule 7)."""
    if store is not None and verifier is not None:
        raise TypeError("pass store= or verifier=, not both")
    if store is not None:
        if not isinstance(store, TokenStore):
            raise TypeError("store must be a TokenStore, e.g. TokenStore.from_url(REDIS_URL)")
        return store
    if verifier is None:
        raise TypeError("pass either store=TokenStore.from_url(REDIS_URL) or verifier=...")
    if not isinstance(verifier, TokenVerifier):
        raise TypeError("verifier must have an async resolve(token) -> AccessToken | None")
    return verifier
