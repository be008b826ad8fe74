"""When the user must sign in again, and when nobody may be asked (OpenID Connect Core 1.0
§3.1.2.1, §3.1.2.3, §3.1.2.6).

``prompt=login`` (or ``select_account``), a sign-in older than ``max_age`` and an
``id_token_hint`` naming someone else than the signed-in user each send the user to the
host's login page with ``prompt=login``: the host must then ask for credentials even if
its session is live. Under ``prompt=none`` none of that may happen: the client gets
``login_required`` instead — the same answer whether or not the hinted user exists, so
the endpoint says nothing about who has an account. ``max_age`` needs to know when the
user signed in: a host whose ``authenticate`` gives no ``auth_time`` cannot honour it,
and such requests are refused (``login_required``) rather than sent round the login
page forever.
"""

from __future__ import annotations

from oauth_middleware.errors import LoginRequired
from oauth_middleware.models import Client
from oauth_middleware.server.config import ServerConfig
from oauth_middleware.server.oidc.id_token import hinted_subject
from oauth_middleware.server.oidc.request import OpenIDRequest
from oauth_middleware.server.oidc.subject import subject
from oauth_middleware.web import Authentication


async def needs_login(config: ServerConfig, client: Client, request: OpenIDRequest,
                      user: Authentication | None, now: float) -> bool:
    """True when the host must (re-)authenticate the user first; the OAuth error to
    redirect with when that cannot be asked or cannot help."""
    hinted = await _hinted(config, client, request)
    if user is None:
        fresh = False
    else:
        fresh = (not request.forces_login and _recent(request, user, now)
                 and (hinted is None or hinted == _sub(config, client, user)))
    if not fresh and request.silent:
        raise LoginRequired()
    return not fresh


def _recent(request: OpenIDRequest, user: Authentication, now: float) -> bool:
    if request.max_age is None:
        return True
    if user.auth_time is None:
        raise LoginRequired("max_age was asked, but this site does not say when you signed in.")
    return now - user.auth_time <= request.max_age


async def _hinted(config: ServerConfig, client: Client, request: OpenIDRequest) -> str | None:
    if request.id_token_hint is None or config.signing_keys is None:
        return None
    return await hinted_subject(config.signing_keys, config.issuer, client,
                                request.id_token_hint)


def _sub(config: ServerConfig, client: Client, user: Authentication) -> str:
    provider = config.openid
    if provider is None:  # unreachable: called for OpenID Providers only (typing)
        return user.user_id
    return subject(provider, config.secret_key, client, user.user_id)
