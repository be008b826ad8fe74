"""The authorization server as one mountable ASGI app (RFC 6749 §3, RFC 7009, RFC 7662, RFC 8414).

``app.mount("/oauth", AuthorizationServer(store=store, issuer="https://example.com/oauth",
secret_key=...))`` serves ``auth/``, ``token/``, ``revoke/``, ``introspect/``,
``device_authorization/`` and ``device`` (RFC 8628), ``par/`` (RFC 9126), ``jwks/``
(with the ``jwt`` extra, or ``signing_keys``) and ``/.well-known/oauth-authorization-server``;
an OpenID Provider (``openid=``) also ``userinfo/`` and ``/.well-known/openid-configuration``.
Each path answers with and without its trailing slash; there is no slash redirect (a 307
would re-post a form).
Every request's query string is redacted on the way in (:mod:`oauth_middleware.redaction`),
before any endpoint can refuse it — a mistyped path's 404 included.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from urllib.parse import urlsplit

from starlette.routing import BaseRoute, Route, Router
from starlette.types import ASGIApp, Receive, Scope, Send

from oauth_middleware import keyring, settings_checks
from oauth_middleware.audit import AuditTrail
from oauth_middleware.limits import (
    CODE_LIFETIME,
    MAX_PENDING,
    MAX_PUSHED,
    PAR_LIFETIME,
    PENDING_LIFETIME,
    REFRESH_LIFETIME,
    REMEMBERED_CONSENTS,
)
from oauth_middleware.metrics.sink import NO_METRICS, Metrics
from oauth_middleware.redaction import redact_scope
from oauth_middleware.server import (
    authorize,
    device,
    device_authorization,
    end_session,
    introspect,
    jwks,
    metadata,
    par,
    revoke,
    token,
)
from oauth_middleware.server.client_documents import DocumentClients
from oauth_middleware.server.config import (
    RegistrationPolicy,
    ServerConfig,
    ThrottlePolicy,
    VerifyPassword,
    default_audience,
    grant_types,
)
from oauth_middleware.server.document_policy import ClientMetadataPolicy
from oauth_middleware.server.exchange_policy import TokenExchangePolicy
from oauth_middleware.server.grants import AuthorizationCodeGrant, Grants
from oauth_middleware.server.grants.token_exchange import TokenExchangeGrant
from oauth_middleware.server.oidc import OpenIDProvider
from oauth_middleware.server.oidc.discovery import PATH as OPENID_PATH
from oauth_middleware.server.oidc.grants import OpenIDCode, OpenIDImplicitGrant
from oauth_middleware.server.oidc.userinfo import UserInfoEndpoint
from oauth_middleware.server.registration import routes as registration_routes
from oauth_middleware.server.throttle import Throttle
from oauth_middleware.signing import SigningKeys
from oauth_middleware.store import TokenStore
from oauth_middleware.web import Authenticate, Logout, signing_key, user_from_scope

METADATA_PATH = "/.well-known/oauth-authorization-server"


def _both(path: str, endpoint: object, methods: list[str] | None, name: str) -> list[BaseRoute]:
    return [Route(f"/{path}/", endpoint, methods=methods, name=name),  # type: ignore[arg-type]
            Route(f"/{path}", endpoint, methods=methods)]  # type: ignore[arg-type]


class AuthorizationServer:
    """The mounted authorization-server sub-app; every option is checked here, at construction."""

    def __init__(
        self,
        *,
        store: TokenStore,
        issuer: str,
        secret_key: str | bytes | None = None,
        login_url: str = "/login",
        authenticate: Authenticate = user_from_scope,
        verify_password: VerifyPassword | None = None,
        debug: bool = False,
        grants: Iterable[str] | None = None,
        require_pkce: bool = False,
        code_lifetime: int = CODE_LIFETIME,
        consent_lifetime: int = PENDING_LIFETIME,
        max_pending_consents: int = MAX_PENDING,
        refresh_lifetime: int | None = REFRESH_LIFETIME,
        throttle: ThrottlePolicy | None = None,
        templates: str | Path | None = None,
        introspection_scope: str | None = None,
        realm: str = "oauth",
        registration: RegistrationPolicy | None = None,
        client_metadata_documents: ClientMetadataPolicy | None = None,
        default_resource: str | Iterable[str] | None = None,
        signing_keys: SigningKeys | None = None,
        remember_consent: int | None = None,
        max_remembered_consents: int = REMEMBERED_CONSENTS,
        logout: Logout | None = None,
        openid: OpenIDProvider | None = None,
        par_lifetime: int = PAR_LIFETIME,
        max_pushed_requests: int = MAX_PUSHED,
        require_par: bool = False,
        token_exchange: TokenExchangePolicy | None = None,
        dpop_nonce: int | None = None,
        metrics: Metrics | None = None,
        audit: AuditTrail | None = None,
    ) -> None:
        settings_checks.check_options("AuthorizationServer", settings_checks.SERVER, locals())
        key = signing_key(secret_key, debug=debug)
        if signing_keys is None and keyring.available():
            # a random per-process key (debug) could not open what another process sealed
            signing_keys = keyring.StoreKeys(store, key) if secret_key is not None \
                else keyring.LocalKeys()
        self.config = ServerConfig(
            store=store, issuer=issuer, login_url=login_url, authenticate=authenticate,
            verify_password=verify_password, secret_key=key,
            debug=debug, grant_types=grant_types(grants), require_pkce=require_pkce,
            code_lifetime=code_lifetime, refresh_lifetime=refresh_lifetime,
            consent_lifetime=consent_lifetime, max_pending_consents=max_pending_consents,
            throttle=throttle or ThrottlePolicy(),
            templates=Path(templates) if templates is not None else None,
            introspection_scope=introspection_scope, realm=realm, registration=registration,
            client_metadata_documents=client_metadata_documents,
            default_resource=default_audience(default_resource), signing_keys=signing_keys,
            remember_consent=remember_consent, max_remembered_consents=max_remembered_consents,
            logout=logout, openid=openid, par_lifetime=par_lifetime,
            max_pushed_requests=max_pushed_requests, require_par=require_par,
            token_exchange=token_exchange, dpop_nonce=dpop_nonce, audit=audit,
            metrics=metrics if metrics is not None else NO_METRICS,
        )
        config = self.config
        #: The mount path last checked against the issuer (``settings_checks.check_mount``).
        self._checked_root: str | None = None
        #: The grants ``auth/`` and ``token/`` dispatch to; extend them here, before serving.
        self.grants = Grants(config, Throttle(config.store, config.throttle, config.audit))
        if config.token_exchange is not None:
            self.grants.register(TokenExchangeGrant)
        policy = config.client_metadata_documents
        #: Clients known by a metadata document (CIMD), when the server accepts them.
        self.documents = None if policy is None else DocumentClients(
            config.store, policy, frozenset(config.grant_types))
        family: dict[str, ASGIApp] = {
            "token": token.TokenEndpoint(config, self.grants, documents=self.documents),
            "revoke": revoke.RevocationEndpoint(config, documents=self.documents),
            "introspect": introspect.IntrospectionEndpoint(config),
            "device_authorization": device_authorization.DeviceAuthorizationEndpoint(
                config, documents=self.documents),
            "par": par.PushedAuthorizationEndpoint(config, self.grants, documents=self.documents)}
        if config.openid is not None:
            self.grants.extend(AuthorizationCodeGrant, OpenIDCode())
            self.grants.register(OpenIDImplicitGrant)
            family["userinfo"] = UserInfoEndpoint(config)
        #: The token family by exact path: what the router would find, without its search.
        self.family: dict[str, ASGIApp] = {
            path: endpoint for name, endpoint in family.items()
            for path in (f"/{name}", f"/{name}/")}
        self.router = Router(redirect_slashes=False, routes=[
            # ASGI endpoints: every method reaches them, so a wrong one gets our own 405
            # (a page on auth/, JSON on the token family).
            *_both("auth", authorize.AuthorizationEndpoint(config, self.grants,
                                                          documents=self.documents), None,
                   "oauth_auth"),
            *(route for name, endpoint in family.items()
              for route in _both(name, endpoint, None, f"oauth_{name}")),
            Route(METADATA_PATH, metadata.MetadataEndpoint(config), name="oauth_metadata"),
            *([Route(OPENID_PATH, metadata.MetadataEndpoint(config), name="openid_metadata")]
              if config.openid is not None else []),
            *_both(device_authorization.VERIFICATION_PATH, device.DevicePage(config), None,
                   "oauth_device"),
            *registration_routes(config),
            *end_session.routes(config),
            *(_both("jwks", jwks.JwksEndpoint(config, config.signing_keys), None, "oauth_jwks")
              if config.signing_keys is not None else ()),
        ])

    @property
    def metadata_endpoint(self) -> metadata.MetadataEndpoint:
        """For the host root: ``Route(server.metadata_path, server.metadata_endpoint)``.

        The endpoint itself (an ASGI app), so every method reaches it: as a function route
        (``.handle``) Starlette answers a POST with its own 405 before the query is redacted.
        """
        return metadata.MetadataEndpoint(self.config)

    @property
    def metadata_path(self) -> str:
        """Where RFC 8414 §3.1 puts this issuer's metadata on its host: the well-known
        prefix, then the issuer's own path (``/.well-known/oauth-authorization-server/oauth``
        for issuer ``https://host/oauth``; the bare prefix for an issuer at the root)."""
        return METADATA_PATH + urlsplit(self.config.issuer).path.rstrip("/")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            redact_scope(scope)
        if scope["type"] == "http":
            path: str = scope["path"]
            root: str = scope.get("root_path", "")
            if root != self._checked_root:
                settings_checks.check_mount(self.config.issuer, root)
                self._checked_root = root
            endpoint = self.family.get(path[len(root):] if path.startswith(root) else path)
            if endpoint is not None:
                scope["path_params"] = {}
                await endpoint(scope, receive, send)
                return
        await self.router(scope, receive, send)
