"""OAuth 2.0 error codes as exceptions (RFC 6749 §4.1.2.1, §5.2; RFC 6750 §3.1; RFC 7009 §2.2.1).

Errors are raised deep (grants, extraction, scope checks) and turned into HTTP
answers in exactly three places: the middleware, the ``auth/`` endpoint and the
``token/``-family endpoints. Each class knows its status and how to render
itself; callers never pick a status code.

    OAuthError
     ├── InvalidRequest            400  invalid_request
     │    ├── RequestTooLarge      413  invalid_request
     │    └── MethodNotAllowed     405  invalid_request          (+ Allow)
     ├── InvalidClient             401  invalid_client
     ├── InvalidGrant              400  invalid_grant
     ├── UnauthorizedClient        400  unauthorized_client
     ├── UnsupportedGrantType      400  unsupported_grant_type
     ├── UnsupportedResponseType   400  unsupported_response_type
     ├── UnsupportedTokenType      400  unsupported_token_type   (RFC 7009)
     ├── InvalidScope              400  invalid_scope
     ├── InvalidRedirectUri        400  invalid_redirect_uri     (RFC 7591)
     ├── InvalidClientMetadata     400  invalid_client_metadata  (RFC 7591)
     ├── InvalidTarget             400  invalid_target           (RFC 8707)
     ├── AccessDenied              403  access_denied
     │    └── UnusableUserId       403  access_denied            (a host hook's user id)
     ├── LoginRequired             400  login_required           (OpenID Connect)
     ├── ConsentRequired           400  consent_required         (OpenID Connect)
     ├── InteractionRequired       400  interaction_required     (OpenID Connect)
     ├── RequestNotSupported       400  request_not_supported    (OpenID Connect)
     ├── RequestUriNotSupported    400  request_uri_not_supported (OpenID Connect)
     ├── ServerError               500  server_error
     ├── TemporarilyUnavailable    503  temporarily_unavailable  (+ Retry-After)
     ├── SlowDown                  429  slow_down                (+ Retry-After)
     ├── MissingToken              401  (no error attribute, RFC 6750 §3.1)
     ├── InvalidToken              401  invalid_token            (RFC 6750)
     └── InsufficientScope         403  insufficient_scope       (RFC 6750)

Descriptions are fixed text chosen by our code; they are still filtered to the
character set RFC 6749 §5.2 allows for ``error_description`` so that nothing can
break out of a JSON string, a redirect parameter or a ``WWW-Authenticate`` value.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import ClassVar

#: RFC 6749 §5.2: error_description = 1*( %x20-21 / %x23-5B / %x5D-7E )
_NOT_NQSCHAR = re.compile(r'[^\x20\x21\x23-\x5b\x5d-\x7e]')

#: RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E )
SCOPE_TOKEN = re.compile(r'[\x21\x23-\x5b\x5d-\x7e]+')

NO_STORE_HEADERS: dict[str, str] = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def safe_text(text: str) -> str:
    """Drop every character RFC 6749 §5.2 does not allow in an error description."""
    return _NOT_NQSCHAR.sub("", text)


class OAuthError(Exception):
    """Base of every OAuth error; ``error`` is the RFC code, ``status_code`` its HTTP status."""

    error: ClassVar[str] = "invalid_request"
    status_code: ClassVar[int] = 400
    default_description: ClassVar[str] = "The request is invalid."

    def __init__(self, description: str | None = None) -> None:
        self.description = safe_text(description or self.default_description)
        super().__init__(self.description)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.description!r})"

    @property
    def headers(self) -> dict[str, str]:
        """Extra response headers this error needs (``Retry-After`` and the like)."""
        return {}

    def to_dict(self) -> dict[str, str]:
        """The JSON error object (RFC 6749 §5.2): ``error`` and ``error_description``."""
        return {"error": self.error, "error_description": self.description}

    def body(self) -> bytes:
        """:meth:`to_dict` as the ASCII JSON bytes of a response body."""
        return json.dumps(self.to_dict()).encode("ascii")

    def redirect_params(self) -> dict[str, str]:
        """The parameters of an error redirect (RFC 6749 §4.1.2.1), ``state`` excluded."""
        return self.to_dict()

    def www_authenticate(self, realm: str) -> str:
        """A ``Bearer`` challenge carrying this error (RFC 6750 §3)."""
        return (
            f'Bearer realm="{safe_text(realm)}", error="{self.error}", '
            f'error_description="{self.description}"'
        )


class InvalidRequest(OAuthError):
    error = "invalid_request"
    default_description = "The request is missing a parameter or is malformed."


class RequestTooLarge(InvalidRequest):
    status_code = 413
    default_description = "The request is too large."


class MethodNotAllowed(InvalidRequest):
    """A method the endpoint does not serve (token family: POST only, RFC 6749 §3.2)."""

    status_code = 405
    default_description = "The method is not allowed here."

    def __init__(self, description: str | None = None, *, allow: str = "POST") -> None:
        super().__init__(description)
        self.allow = allow

    @property
    def headers(self) -> dict[str, str]:
        return {"Allow": self.allow}


class InvalidClient(OAuthError):
    """Client authentication failed (RFC 6749 §5.2): 401 with a ``Basic`` challenge."""

    error = "invalid_client"
    status_code = 401
    default_description = "Client authentication failed."
    realm: ClassVar[str] = "oauth"

    @property
    def headers(self) -> dict[str, str]:
        return {"WWW-Authenticate": f'Basic realm="{self.realm}"'}


class InvalidGrant(OAuthError):
    error = "invalid_grant"
    default_description = "The grant is invalid, expired or revoked."


class UnauthorizedClient(OAuthError):
    error = "unauthorized_client"
    default_description = "The client is not allowed to use this grant or response type."


class UnsupportedGrantType(OAuthError):
    error = "unsupported_grant_type"
    default_description = "The grant type is not supported."


class UnsupportedResponseType(OAuthError):
    error = "unsupported_response_type"
    default_description = "The response type is not supported."


class UnsupportedTokenType(OAuthError):
    error = "unsupported_token_type"
    default_description = "The token type is not supported."


class InvalidScope(OAuthError):
    error = "invalid_scope"
    default_description = "The requested scope is invalid, unknown or not allowed."


class InvalidRedirectUri(OAuthError):
    """RFC 7591 §3.2.2: a redirect URI of a registration request is refused."""

    error = "invalid_redirect_uri"
    default_description = "A redirect URI is invalid."


class InvalidClientMetadata(OAuthError):
    """RFC 7591 §3.2.2: a metadata field of a registration request is refused."""

    error = "invalid_client_metadata"
    default_description = "A client metadata field is invalid."


class InvalidTarget(OAuthError):
    """RFC 8707 §2: a ``resource`` that is malformed, unknown or not allowed to the client."""

    error = "invalid_target"
    default_description = "The requested resource is invalid, unknown or not allowed."


class AccessDenied(OAuthError):
    error = "access_denied"
    status_code = 403
    default_description = "The resource owner denied the request."


class UnusableUserId(AccessDenied):
    """The host's sign-in hook (``authenticate``, ``verify_password``) answered a user id
    that is not typed text (a control character, :func:`~oauth_middleware.policy.check_typed_text`):
    the host's bug, so nobody is signed in with it and nothing is granted. The page or the
    error says so without the id, which could carry a terminal escape or a forged log line."""

    default_description = ("Your account cannot be used here: the site's sign-in gave an "
                           "account id with a character that is not allowed. Nothing was "
                           "granted; the site's operators can fix this.")


class LoginRequired(OAuthError):
    """``prompt=none`` and nobody suitable is signed in (OpenID Connect Core 1.0 §3.1.2.6)."""

    error = "login_required"
    default_description = "The user must sign in."


class ConsentRequired(OAuthError):
    """``prompt=none`` and the user has not consented to these scopes (Core 1.0 §3.1.2.6)."""

    error = "consent_required"
    default_description = "The user must consent."


class InteractionRequired(OAuthError):
    """``prompt=none`` and the request needs the user for another reason (Core §3.1.2.6)."""

    error = "interaction_required"
    default_description = "The request needs the user's interaction."


class RequestNotSupported(OAuthError):
    """A ``request`` object was sent: this server takes none (Core 1.0 §6, §3.1.2.6)."""

    error = "request_not_supported"
    default_description = "Request objects are not supported."


class RequestUriNotSupported(OAuthError):
    """A ``request_uri`` was sent: this server fetches none (Core 1.0 §6.2, §3.1.2.6)."""

    error = "request_uri_not_supported"
    default_description = "The request_uri parameter is not supported."


class ServerError(OAuthError):
    error = "server_error"
    status_code = 500
    default_description = "The server could not complete the request."


class _RetryLater(OAuthError):
    def __init__(self, description: str | None = None, *, retry_after: int = 5) -> None:
        super().__init__(description)
        self.retry_after = max(1, int(retry_after))

    @property
    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}


class TemporarilyUnavailable(_RetryLater):
    """The store cannot be reached: fail closed (never ``invalid_grant``/``invalid_token``)."""

    error = "temporarily_unavailable"
    status_code = 503
    default_description = "The service is temporarily unavailable, try again later."


class SlowDown(_RetryLater):
    """Too many failed attempts (RFC 6749 §2.3.1 asks servers to stop brute force)."""

    error = "slow_down"
    status_code = 429
    default_description = "Too many failed attempts, try again later."


class MissingToken(OAuthError):
    """No credentials at all: RFC 6750 §3.1 says the challenge SHOULD NOT carry an error code."""

    error = "missing_token"
    status_code = 401
    default_description = "A bearer token is required."

    def to_dict(self) -> dict[str, str]:
        return {"error_description": self.description}

    def www_authenticate(self, realm: str) -> str:
        return f'Bearer realm="{safe_text(realm)}"'


class DPoPMissingToken(MissingToken):
    """No credentials where only DPoP-bound tokens are taken (RFC 9449 §7.1): the challenge
    names the ``DPoP`` scheme and its ``algs``, still without an error code."""

    default_description = "A DPoP-bound access token is required."

    def www_authenticate(self, realm: str) -> str:
        return f'DPoP realm="{safe_text(realm)}", algs="{" ".join(DPOP_ALGS)}"'


class InvalidToken(OAuthError):
    error = "invalid_token"
    status_code = 401
    default_description = "The access token is invalid, expired or revoked."


class InsufficientScope(OAuthError):
    """The token lacks a scope; the challenge names every scope the resource needs.

    With none to name (a scope that could not be determined, so no token carries
    it) the ``scope`` attribute is left out: RFC 6750 §3 makes it optional.
    """

    error = "insufficient_scope"
    status_code = 403
    default_description = "The access token does not carry the required scope."

    def __init__(self, required: Iterable[str], description: str | None = None) -> None:
        super().__init__(description)
        self.required = tuple(s for s in required if SCOPE_TOKEN.fullmatch(s))

    def to_dict(self) -> dict[str, str]:
        if not self.required:
            return super().to_dict()
        return {**super().to_dict(), "scope": " ".join(self.required)}

    def www_authenticate(self, realm: str) -> str:
        if not self.required:
            return super().www_authenticate(realm)
        return f'{super().www_authenticate(realm)}, scope="{" ".join(self.required)}"'


class AuthorizationPending(OAuthError):
    """The person has not decided yet; poll again after the interval (RFC 8628 §3.5)."""

    error = "authorization_pending"
    default_description = "The user has not yet approved or denied this device."


class PollTooFast(OAuthError):
    """A device polled sooner than its interval, now 5 s longer (RFC 8628 §3.5): a 400 like
    every token error, unlike the 429 :class:`SlowDown` of brute-force limits."""

    error = "slow_down"
    default_description = "Polling too fast: wait the interval, now 5 seconds longer."


class ExpiredToken(OAuthError):
    """The device code expired before it was approved (RFC 8628 §3.5)."""

    error = "expired_token"
    default_description = "The device code has expired: start again."


class DeviceAccessDenied(AccessDenied):
    """The person denied the device (RFC 8628 §3.5): a token error, so a 400."""

    status_code = 400
#: Algorithms a DPoP proof may be signed with (RFC 9449 §4.3: asymmetric only), as the
#: ``algs`` of a ``DPoP`` challenge and ``dpop_signing_alg_values_supported`` list them.
#: Ed25519 by its RFC 9864 name: the polymorphic ``EdDSA`` is deprecated there.
DPOP_ALGS = ("ES256", "ES384", "PS256", "RS256", "Ed25519")


def dpop_challenge(error: OAuthError, realm: str) -> str:
    """A ``DPoP`` challenge carrying ``error`` (RFC 9449 §7.1)."""
    return (f'DPoP realm="{safe_text(realm)}", error="{error.error}", '
            f'error_description="{error.description}", algs="{" ".join(DPOP_ALGS)}"')


class InvalidDPoPProof(OAuthError):
    """The ``DPoP`` header is missing, repeated, malformed or fails a check (RFC 9449 §5, §7)."""

    error = "invalid_dpop_proof"
    default_description = "The DPoP proof is invalid."


class UseDPoPNonce(OAuthError):
    """The server wants a proof carrying the nonce it sends (RFC 9449 §8, §9)."""

    error = "use_dpop_nonce"
    default_description = "Resend the request with a DPoP proof carrying the DPoP-Nonce."

    def __init__(self, nonce: str, description: str | None = None) -> None:
        super().__init__(description)
        self.nonce = nonce

    @property
    def headers(self) -> dict[str, str]:
        return {"DPoP-Nonce": self.nonce}


class DPoPRefused(InvalidDPoPProof):
    """:class:`InvalidDPoPProof` at a protected resource: 401 with a ``DPoP`` challenge."""

    status_code = 401

    def www_authenticate(self, realm: str) -> str:
        return dpop_challenge(self, realm)


class DPoPNonceRefused(UseDPoPNonce):
    """:class:`UseDPoPNonce` at a protected resource (RFC 9449 §9): 401 with a ``DPoP``
    challenge and the nonce in ``DPoP-Nonce``."""

    status_code = 401

    def www_authenticate(self, realm: str) -> str:
        return dpop_challenge(self, realm)


class DPoPInvalidToken(InvalidToken):
    """A token refused at a protected resource for its DPoP binding (RFC 9449 §7.1, §7.2):
    the challenge names the ``DPoP`` scheme, the one the token must be presented with."""

    def www_authenticate(self, realm: str) -> str:
        return dpop_challenge(self, realm)
