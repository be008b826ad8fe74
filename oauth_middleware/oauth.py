"""One configuration for the middleware, the authorization server and the admin.

Each of the three apps can be built on its own, each with its own ``store``,
``debug``, ``secret_key``... and then disagree: a ``debug=True`` on one of them
only, two stores, two realms. :class:`OAuth` holds what they share and hands them
out already agreeing::

    oauth = OAuth(store=store, issuer="https://example.com/oauth", secret_key=key)
    oauth.protect(app, scopes={"/items": "items:read"})
    app.mount("/oauth", oauth.server())
    app.mount("/admin", oauth.admin(is_admin=lambda request: ...))
    app.mount("/account/apps", oauth.connected_apps())

Options that only one app has (``scopes``, ``grants``, ``is_admin``...) go to the
method handing out that app; a shared option passed there is refused, so the
one value set here is the one every app uses.
"""

from __future__ import annotations

from typing import Any

from starlette.types import ASGIApp

from oauth_middleware.account import ConnectedAppsApp
from oauth_middleware.admin.app import AdminApp
from oauth_middleware.audit import AuditTrail
from oauth_middleware.middleware import OAuthMiddleware
from oauth_middleware.resource_metadata import ProtectedResource, protected_resource
from oauth_middleware.server.app import AuthorizationServer
from oauth_middleware.store import TokenStore
from oauth_middleware.verifier import TokenVerifier
from oauth_middleware.web import Authenticate, signing_key, user_from_scope

#: Set once on :class:`OAuth`, never per app.
SHARED = frozenset({"store", "verifier", "issuer", "secret_key", "realm", "debug",
                    "login_url", "authenticate", "audit"})


class OAuth:
    """What the middleware, the authorization server and the admin share; see the module."""

    def __init__(
        self,
        *,
        store: TokenStore,
        issuer: str | None = None,
        secret_key: str | bytes | None = None,
        realm: str = "api",
        debug: bool = False,
        login_url: str = "/login",
        authenticate: Authenticate = user_from_scope,
        verifier: TokenVerifier | None = None,
        resource: str | ProtectedResource | None = None,
        audit: AuditTrail | None = None,
    ) -> None:
        if not isinstance(store, TokenStore):
            raise TypeError(f"OAuth(store=...) must be a TokenStore, not {type(store).__name__}:"
                            " e.g. store=TokenStore.from_url(os.environ.get('REDIS_URL'))")
        self.store = store
        self.verifier = verifier
        self.issuer = issuer
        self.realm = realm
        self.debug = debug
        self.login_url = login_url
        self.authenticate = authenticate
        #: Where the server, the admin and the connected-apps page send their events
        #: (:mod:`oauth_middleware.audit`).
        self.audit = audit
        #: The protected resource (RFC 9728) the middleware serves, its issuer filled in.
        self.resource = protected_resource(resource, issuer)
        self._secret_key = secret_key
        self._signing_key: bytes | None = None

    def __repr__(self) -> str:
        return f"OAuth(issuer={self.issuer!r}, realm={self.realm!r}, debug={self.debug!r})"

    @property
    def signing_key(self) -> bytes:
        """One key for the server and the admin (in debug without one: one random key)."""
        if self._signing_key is None:
            self._signing_key = signing_key(self._secret_key, debug=self.debug)
        return self._signing_key

    def protect(self, app: Any, scopes: Any = None, **options: Any) -> None:
        """Add the middleware to a Starlette or FastAPI ``app`` (``app.add_middleware``):
        inside the framework's error handling, where it also answers ``RequireScopes``."""
        if not hasattr(app, "add_middleware"):
            raise TypeError("OAuth.protect(app) needs a Starlette or FastAPI app; wrap any "
                            "other ASGI app with OAuth.middleware(app)")
        app.add_middleware(OAuthMiddleware, **self._middleware_options(scopes, options))

    def middleware(self, app: ASGIApp, scopes: Any = None, **options: Any) -> OAuthMiddleware:
        """``app`` wrapped in the middleware (any ASGI app)."""
        return OAuthMiddleware(app, **self._middleware_options(scopes, options))

    def server(self, **options: Any) -> AuthorizationServer:
        """The authorization server to mount (at the path of ``issuer``)."""
        _refuse_shared("server", options)
        if self.issuer is None:
            raise TypeError("OAuth(issuer=...) is required for the authorization server, "
                            "e.g. issuer='https://example.com/oauth' when mounted at /oauth")
        return AuthorizationServer(
            store=self.store, issuer=self.issuer, secret_key=self.signing_key,
            login_url=self.login_url, authenticate=self.authenticate, debug=self.debug,
            realm=self.realm, audit=self.audit, **options)

    def admin(self, **options: Any) -> AdminApp:
        """The web admin to mount; ``is_admin=`` is its own option."""
        _refuse_shared("admin", options)
        return AdminApp(store=self.store, secret_key=self.signing_key, login_url=self.login_url,
                        authenticate=self.authenticate, debug=self.debug, audit=self.audit,
                        **options)

    def connected_apps(self, **options: Any) -> ConnectedAppsApp:
        """The page where people see and revoke the apps they authorized (behind the same
        login as ``auth/``)."""
        _refuse_shared("connected_apps", options)
        return ConnectedAppsApp(store=self.store, secret_key=self.signing_key,
                                login_url=self.login_url, authenticate=self.authenticate,
                                debug=self.debug, audit=self.audit, **options)

    def _middleware_options(self, scopes: Any, options: dict[str, Any]) -> dict[str, Any]:
        _refuse_shared("middleware", options)
        source = ({"verifier": self.verifier} if self.verifier is not None
                  else {"store": self.store})
        # A resource given here is another resource of the same issuer.
        resource = (protected_resource(options.pop("resource"), self.issuer)
                    if "resource" in options else self.resource)
        return {**source, "scopes": scopes, "realm": self.realm, "debug": self.debug,
                "resource": resource, **options}


def _refuse_shared(method: str, options: dict[str, Any]) -> None:
    shared = sorted(SHARED & options.keys())
    if shared:
        raise TypeError(f"OAuth.{method}() got {', '.join(shared)}: set it once on "
                        "OAuth(...), so the middleware, server and admin agree")
