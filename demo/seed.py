"""Seeding the demo's scopes and clients, idempotently (safe on every start)."""

from __future__ import annotations

from typing import Any

from oauth_middleware.discovery import required_scopes, sync_app
from oauth_middleware.models import Scope
from oauth_middleware.store import TokenStore
from oauth_middleware.toolbox import register_client

WEB_CLIENT = "demo-web"
SPA_CLIENT = "demo-spa"
#: The OpenID Connect scopes (Core 1.0 §5.4) and their consent-page titles. ``address`` is
#: left out on purpose: alice's address is known (demo/users.py) but never leaves.
OPENID_SCOPES = {
    "openid": "Sign you in with your demo account",
    "profile": "Your name and username",
    "email": "Your email address",
    "phone": "Your phone number",
}


async def seed(store: TokenStore, app: Any, *, base_url: str, web_secret: str | None) -> str:
    """Register the app's scopes and both demo clients; returns demo-web's secret.

    Scopes come from the same discovery as ``oauth-middleware scope sync``, plus the
    OpenID Connect ones (created once with their titles, then left as the admin keeps them).
    Clients are re-registered on every start so their redirect URIs follow the
    host and port; demo-web keeps ``web_secret`` when given, else gets a new one.
    """
    await sync_app(store, app)
    for identifier, title in OPENID_SCOPES.items():
        await store.create_scope(Scope(identifier, title))  # an admin's edits are kept
    scopes = [need.identifier for need in required_scopes(app)] + list(OPENID_SCOPES)
    web = await register_client(
        store, "Demo web client", WEB_CLIENT,
        # the client app's callbacks (OAuth, OpenID Connect), and the walkthrough's by-hand
        # page that shows the code
        [f"{base_url}/client/callback", f"{base_url}/client/code",
         f"{base_url}/client/oidc/callback"], "alice",
        public=False, scopes_list=scopes, replace_existing=True, client_secret=web_secret,
        grant_types=["authorization_code", "refresh_token", "client_credentials", "password"],
        description="The client app at /client/: authorization code + PKCE, then the polls API.",
        link=f"{base_url}/client/",
        # RP-initiated logout ("Sign out everywhere") comes back here
        post_logout_redirect_uris=[f"{base_url}/client/oidc/signed-out"],
    )
    await register_client(
        store, "Demo single-page app", SPA_CLIENT, f"{base_url}/client/spa", "alice",
        public=True, scopes_list=scopes, replace_existing=True,
        grant_types=["authorization_code", "refresh_token", "implicit"],
        description="A public client: PKCE required, implicit flow allowed.",
    )
    if web.client_secret is None:  # pragma: no cover - demo-web is confidential
        raise RuntimeError("demo-web must be confidential")
    return web.client_secret
