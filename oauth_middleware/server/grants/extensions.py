"""Extending a grant without a branch in it (OpenID Connect Core 1.0 §3.1, §3.2 will be ones).

OpenID Connect adds to the code and implicit grants rather than replacing them:
the same authorization request with more parameters (``nonce``), the same
responses with more members (``id_token``). Like Authlib's ``OpenIDCode``
extending its code grant, an extension is registered with the grant it extends
(:meth:`~oauth_middleware.server.grants.registry.Grants.extend`) and called at fixed,
typed points of both halves — no hook looked up by name. Each point runs after
the grant's own work succeeded, in the order the extensions were registered; a
hook raising an :class:`~oauth_middleware.errors.OAuthError` refuses the request
as the grant would (a redirect at ``auth/``, JSON at ``token/``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from oauth_middleware.models import Client, IssuedTokens, PendingAuthorization

if TYPE_CHECKING:
    from oauth_middleware.server.grants.base import AuthorizationGrant, Grant
    from oauth_middleware.server.grants.request import TokenRequest
    from oauth_middleware.server.urlencoded import Params


class GrantExtension:
    """Every hook does nothing by default; an extension overrides the ones it needs."""

    async def check_authorization(
        self, grant: AuthorizationGrant, client: Client, params: Params
    ) -> None:
        """Check the extension's own authorization-request parameters (after the grant's)."""

    async def authorization_response(
        self, grant: AuthorizationGrant, client: Client, pending: PendingAuthorization,
        scopes: frozenset[str], answer: dict[str, str],
    ) -> None:
        """Add to ``answer``, the parameters the approved request redirects with."""

    async def token_response(
        self, grant: Grant, request: TokenRequest, issued: IssuedTokens,
        body: dict[str, object],
    ) -> None:
        """Add to ``body``, the token endpoint's JSON answer (RFC 6749 §5.1)."""
