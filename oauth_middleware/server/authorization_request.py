"""The authorization request: parsing and validation (RFC 6749 §3.1, §4.1.1, §4.2.1, §4.1.2.1).

Validation happens in two phases because RFC 6749 §4.1.2.1 forbids redirecting
to an unverified URI. :func:`identify` checks ``client_id`` and
``redirect_uri``; its failures are plain :class:`~oauth_middleware.errors.OAuthError`
and end on an HTML page. Once both pass, :func:`validate` checks the rest and
raises :class:`ErrorRedirect`, which travels back to the client's redirect URI
(query for ``code``, fragment for ``token``) with ``state`` attached. The grant
serving the response type (:class:`~oauth_middleware.server.grants.Grants`)
says which, and checks the response type's own parameters.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from oauth_middleware.errors import (
    SCOPE_TOKEN,
    InvalidRequest,
    InvalidScope,
    OAuthError,
    RequestUriNotSupported,
    UnauthorizedClient,
    UnsupportedResponseType,
)
from oauth_middleware.models import Client, PendingAuthorization, ResponseType
from oauth_middleware.policy import grantable_scopes, validate_client_id
from oauth_middleware.redirects import MAX_REDIRECT_URI_LENGTH, add_params, find_registered
from oauth_middleware.resource_indicators import requested_audience
from oauth_middleware.server.client_documents import (
    DocumentClients,
    DocumentRefused,
    is_client_id_url,
)
from oauth_middleware.server.config import ServerConfig
from oauth_middleware.server.document_policy import MAX_URL
from oauth_middleware.server.grants import AuthorizationDetails, AuthorizationGrant, Grants
from oauth_middleware.server.grants.registry import normalised
from oauth_middleware.server.oidc import request as openid_request
from oauth_middleware.server.oidc.request import NO_OPENID, OpenIDRequest
from oauth_middleware.server.urlencoded import Params
from oauth_middleware.store import TokenStore
from oauth_middleware.web import Authentication

#: The parameters this endpoint reads; any other is ignored (RFC 6749 §3.1).
PARAMETERS = (
    "response_type", "client_id", "redirect_uri", "scope", "state",
    "code_challenge", "code_challenge_method", "dpop_jkt",
)
#: Longest accepted value per parameter, in characters (after percent-decoding).
MAX_LENGTHS: Mapping[str, int] = {
    "response_type": 64, "client_id": MAX_URL, "redirect_uri": MAX_REDIRECT_URI_LENGTH,
    "scope": 4096, "state": 4096, "code_challenge": 128, "code_challenge_method": 16,
    "dpop_jkt": 64,
}
#: Bytes of a whole query string and fields in it; beyond, a 413 page.
MAX_QUERY_BYTES = 24 * 1024
MAX_FIELDS = 64


@dataclass(frozen=True, slots=True)
class RedirectTarget:
    """A redirect URI already matched against the client's registration (RFC 6749 §3.1.2)."""

    uri: str
    #: RFC 6749 §4.1.3: the token request must repeat redirect_uri iff it was sent.
    explicit: bool
    #: The implicit flow answers in the fragment (RFC 6749 §4.2.2).
    fragment: bool
    state: str | None
    #: RFC 9207 §2: the issuer, added as ``iss`` to every answer, success or error.
    issuer: str | None = None

    @classmethod
    def of(cls, pending: PendingAuthorization, grants: Grants) -> RedirectTarget:
        """Where the answer to a pending request goes (validated when it was stored)."""
        return cls(pending.redirect_uri, pending.redirect_uri_explicit,
                   grants.fragment((pending.response_type,)), pending.state,
                   grants.config.issuer)

    def url(self, params: Mapping[str, str]) -> str:
        """``params`` plus ``state`` (exactly as received) and ``iss``, URL-encoded onto the
        URI. ``iss`` tells the client which server answered (RFC 9207 §2): a client talking
        to several cannot be sent one's code as if it came from another (mix-up, RFC 9700
        §4.4)."""
        answer = dict(params)
        if self.issuer is not None:
            answer["iss"] = self.issuer
        if self.state is not None:
            answer["state"] = self.state
        return add_params(self.uri, answer, fragment=self.fragment)


class ErrorRedirect(Exception):
    """An OAuth error for the client, delivered by redirect (RFC 6749 §4.1.2.1, §4.2.2.1)."""

    def __init__(self, error: OAuthError, target: RedirectTarget) -> None:
        super().__init__(error.error)
        self.error = error
        self.target = target

    def url(self) -> str:
        return self.target.url(self.error.redirect_params())


@dataclass(frozen=True, slots=True)
class AuthorizationRequest:
    """A fully validated request, ready for the user's decision."""

    client: Client
    target: RedirectTarget
    response_type: ResponseType
    scopes: tuple[str, ...]
    details: AuthorizationDetails
    #: RFC 8707 §2: the resources the tokens will be meant for.
    audience: frozenset[str] = frozenset()
    #: The OpenID Connect parameters (empty unless the server is an OpenID Provider).
    openid: OpenIDRequest = NO_OPENID
    #: Digest of the ``request_uri`` it was pushed under (RFC 9126 §4); None: not pushed.
    pushed: str | None = None

    def pending(self, user: Authentication, now: float) -> PendingAuthorization:
        challenge, openid = self.details.challenge, self.openid
        return PendingAuthorization(
            user=user.user_id, client_id=self.client.client_id,
            response_type=self.response_type,
            redirect_uri=self.target.uri, redirect_uri_explicit=self.target.explicit,
            scopes=self.scopes, state=self.target.state,
            code_challenge=challenge.value if challenge else None,
            code_challenge_method=challenge.method if challenge else None,
            created_at=now, client_generation=self.client.generation, audience=self.audience,
            nonce=openid.nonce, auth_time=user.auth_time, acr=user.acr, amr=user.amr,
            claims=openid.claims, pushed=self.pushed, dpop_jkt=self.details.dpop_jkt,
        )


async def identify(
    store: TokenStore, params: Params, grants: Grants, *,
    documents: DocumentClients | None = None, caller: str = "",
) -> tuple[Client, RedirectTarget]:
    """The client and where to answer it; any failure here is shown to the user, not redirected.

    ``documents``: a ``client_id`` that is a URL names a metadata-document client, fetched
    (for ``caller``) when its record is not fresh.
    """
    if params.repeated(("client_id", "redirect_uri")):
        raise InvalidRequest("The client_id or redirect_uri parameter is repeated.")
    client_id = params.get("client_id")
    if documents is not None and client_id is not None and is_client_id_url(client_id):
        try:
            client = await documents.client(client_id, caller)
        except DocumentRefused as exc:
            raise InvalidRequest(f"The client's metadata document cannot be used: {exc}.") \
                from None
    else:
        client = await _client(store, client_id)
    requested = params.get("redirect_uri")
    if requested is None:
        if len(client.redirect_uris) != 1:
            raise InvalidRequest("The redirect_uri parameter is missing.")
        uri, explicit = client.redirect_uris[0], False
    else:
        found = find_registered(client.redirect_uris, requested)
        if found is None or len(found) > MAX_REDIRECT_URI_LENGTH:
            raise InvalidRequest("The redirect_uri is not registered for this client.")
        uri, explicit = found, True
    state = params.get("state")
    if state is not None and len(state) > MAX_LENGTHS["state"]:
        state = None
    # RFC 6749 §4.2.2.1: implicit errors go in the fragment; a repeated "token" still
    # asked for the implicit flow, so its invalid_request answers there too.
    fragment = grants.fragment(params.values("response_type"))
    return client, RedirectTarget(uri, explicit, fragment, state, grants.config.issuer)


async def _client(store: TokenStore, client_id: str | None) -> Client:
    if client_id is None:
        raise InvalidRequest("The client_id parameter is missing.")
    try:
        validate_client_id(client_id)
    except ValueError:
        raise InvalidRequest("The client is unknown.") from None
    client = await store.get_client(client_id)
    if client is None:
        raise InvalidRequest("The client is unknown.")
    return client


async def validate(
    config: ServerConfig, grants: Grants, client: Client, target: RedirectTarget,
    params: Params, *, pushed: str | None = None,
) -> AuthorizationRequest:
    """Everything after client and redirect URI; failures raise :class:`ErrorRedirect`.

    ``pushed``: the digest of the ``request_uri`` the parameters come from ("" while
    ``par/`` checks them); a request not pushed is refused where pushing is required
    (RFC 9126 §5-6)."""
    try:
        if pushed is None and (config.require_par
                               or client.require_pushed_authorization_requests):
            raise InvalidRequest("This request must be pushed to the par/ endpoint first "
                                 "(RFC 9126).")
        if params.values("request_uri"):  # not one of ours (RFC 9101 §5.2, §6.2)
            raise RequestUriNotSupported()
        _check_shape(params)
        response_type, grant = check_response_type(
            config, grants, client, params.get("response_type"))
        details = await grant.check_authorization(client, params)
        scopes = await requested_scopes(config.store, client, params.get("scope"))
        audience = requested_audience(client, params.values("resource"), config.default_resource)
        openid = openid_request.parse(params) if config.openid else NO_OPENID
    except OAuthError as exc:
        raise ErrorRedirect(exc, target) from None
    return AuthorizationRequest(client, target, response_type, scopes, details, audience, openid,
                                pushed or None)


def _check_shape(params: Params) -> None:
    params.refuse_malformed(PARAMETERS, MAX_LENGTHS)


def check_response_type(
    config: ServerConfig, grants: Grants, client: Client, response_type: str | None
) -> tuple[ResponseType, AuthorizationGrant]:
    """The response type and the grant serving it, if the server offers that grant and the
    client may use it."""
    if response_type is None:
        raise InvalidRequest("The response_type parameter is missing.")
    found = grants.authorization.get(normalised(response_type))
    if found is None or found[1].GRANT_TYPE not in config.grant_types:
        raise UnsupportedResponseType()
    if not client.allows(found[1].GRANT_TYPE):
        raise UnauthorizedClient("The client may not use this response type.")
    return found


async def requested_scopes(
    store: TokenStore, client: Client, scope: str | None
) -> tuple[str, ...]:
    """The scopes to ask the user about, in the order requested (RFC 6749 §3.3)."""
    asked = list(dict.fromkeys(scope.split(" "))) if scope is not None else []
    asked = [s for s in asked if s]
    if any(not SCOPE_TOKEN.fullmatch(s) for s in asked):
        raise InvalidScope("The scope parameter is malformed.")
    granted = await grantable_scopes(store, client, asked or None)
    order = asked or list(client.scopes)
    return tuple(s for s in order if s in granted)
