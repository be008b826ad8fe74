"""The demo application: authorization server, polls API, login and the client app in one.

The server is an OpenID Provider too (``openid=``): the demo's login session says who
signed in and when (``auth_time``), ``demo.users.userinfo`` gives the claims, consent is
remembered for a week, and ``end_session/`` ends the demo's session (RP-initiated logout).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.authentication import AuthenticationMiddleware
from starlette.routing import Mount, Route

from demo import polls, users
from demo.client import DemoClient
from demo.device import DeviceDemo, seed_device
from demo.keys import replace_unreadable_keys
from demo.mcp_server import McpEndpoint
from demo.pages import Pages
from demo.seed import seed
from demo.sessions import SessionBackend, Sessions
from oauth_middleware import OAuthMiddleware, TokenStore
from oauth_middleware.account import ConnectedAppsApp
from oauth_middleware.admin import AdminApp
from oauth_middleware.audit import AuditTrail
from oauth_middleware.health import Health
from oauth_middleware.metrics.prometheus import PrometheusMetrics
from oauth_middleware.request_id import RequestIdMiddleware
from oauth_middleware.security import new_secret
from oauth_middleware.server import AuthorizationServer, RegistrationPolicy
from oauth_middleware.server.oidc import OpenIDProvider

#: Seconds an approval is remembered: a second sign-in by the same user skips the page.
REMEMBER_CONSENT = 7 * 24 * 3600


def create_app(*, base_url: str = "http://127.0.0.1:8000", store: TokenStore | None = None,
               client_secret: str | None = None, secret_key: bytes | None = None,
               on_seeded: Callable[[str], None] | None = None,
               on_keys_replaced: Callable[[list[str]], None] | None = None) -> Starlette:
    """Build the demo for ``base_url`` (scheme, host and port it is served at).

    ``on_seeded`` receives demo-web's client secret once the clients are registered;
    ``on_keys_replaced`` the kids of signing keys another ``secret_key`` had sealed.
    """
    store = store or TokenStore.from_url(None)
    key = secret_key or new_secret(32).encode()
    sessions = Sessions(key)
    issuer = f"{base_url}/oauth"
    # /metrics, /healthz, /readyz (docs/operating.md); a real deployment keeps /metrics off
    # the public network
    metrics = PrometheusMetrics(store)
    # The audit trail (docs/events.md): the admin's Events page lists what happened
    audit = AuditTrail(store)
    server = AuthorizationServer(
        store=store, issuer=issuer, secret_key=key, login_url="/login",
        verify_password=users.verify_password, debug=True,
        # MCP clients register themselves: public clients, loopback redirects (RFC 7591)
        registration=RegistrationPolicy(),
        # OpenID Connect: who signed in and when, their claims, remembered consent, logout
        authenticate=sessions.authenticate, openid=OpenIDProvider(userinfo=users.userinfo),
        remember_consent=REMEMBER_CONSENT, logout=sessions.end, metrics=metrics, audit=audit,
    )
    mcp = McpEndpoint(store=store, base_url=base_url, issuer=issuer)
    client = DemoClient(base_url=base_url, secret=client_secret or "", signing_key=key)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await store.check()  # a Redis that would lose data silently refuses the start
        client.secret = await seed(store, app, base_url=base_url, web_secret=client_secret)
        await seed_device(store)
        replaced = await replace_unreadable_keys(server.config.signing_keys)
        if replaced and on_keys_replaced is not None:
            on_keys_replaced(replaced)
        if on_seeded is not None:
            on_seeded(client.secret)
        async with mcp.running():
            yield
        await store.aclose()

    pages = Pages(sessions, base_url=base_url, embedded=store.embedded)
    admin = AdminApp(store=store, secret_key=key, login_url="/login", debug=True, audit=audit,
                     is_admin=lambda request: users.is_admin(sessions.user(request)))
    # Where people see and revoke what they authorized: behind the same login as auth/.
    connected_apps = ConnectedAppsApp(store=store, secret_key=key, login_url="/login",
                                      authenticate=sessions.authenticate, debug=True,
                                      audit=audit)
    app = Starlette(
        routes=[*pages.routes, *polls.routes, *client.routes,
                *DeviceDemo(base_url=base_url, http=client._http).routes, Mount("/oauth", server),
                Mount("/admin", admin), Mount("/account/apps", connected_apps),
                mcp.route, *Health(store).routes(), Mount("/metrics", metrics.app()),
                # RFC 8414 §3.1: /.well-known/oauth-authorization-server/oauth for issuer .../oauth
                Route(server.metadata_path, server.metadata_endpoint)],
        middleware=[
            Middleware(RequestIdMiddleware),
            Middleware(AuthenticationMiddleware, backend=SessionBackend(sessions)),
            # /mcp: its own middleware, resource and audience (demo/mcp_server.py)
            mcp.middleware,
            # public_url: where clients reach the API, the htu of their DPoP proofs
            Middleware(OAuthMiddleware, store=store, scopes=polls.SCOPES, debug=True,
                       public_url=base_url, metrics=metrics),
        ],
        lifespan=lifespan,
    )
    state: Any = app.state
    state.store, state.client, state.sessions = store, client, sessions
    return app
