"""The OpenID Provider (OpenID Connect Core 1.0, Discovery 1.0) over the OAuth 2.0 server."""

from oauth_middleware.server.oidc.provider import OpenIDProvider

__all__ = ["OpenIDProvider"]
