"""Client metadata of a registration request, validated (RFC 7591 §2, §2.1, §3.2.2).

What a client may ask for is what the host could have registered for it with
``register_client``: redirect URIs by the same rule (``redirects.validate_redirect_uri``),
texts without control characters (``policy.check_typed_text``), registered scopes
only. Open registration narrows it to the MCP case: public clients
(``token_endpoint_auth_method=none``, PKCE always required of them) redirecting to
this machine (loopback http) or to an app (a private-use scheme), never to a web
origin that anybody could own. Fields this server does not keep (``logo_uri``,
``policy_uri``, ``tos_uri``, ``contacts``, ...) are checked where RFC 7591 gives them
a form, then dropped; a ``software_statement`` is ignored (none is trusted here).
``id_token_signed_response_alg`` (OpenID Connect Dynamic Client Registration 1.0 §2) is
taken only when the server's key ring signs with it: a client whose ID tokens could not
be signed would be refused at every sign-in.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from oauth_middleware.errors import InvalidClientMetadata, InvalidRedirectUri
from oauth_middleware.models import GrantType
from oauth_middleware.policy import check_typed_text
from oauth_middleware.redirects import InvalidRedirectURI, validate_redirect_uri
from oauth_middleware.server.config import RegistrationPolicy
from oauth_middleware.signing import ASYMMETRIC_ALGORITHMS
from oauth_middleware.store import TokenStore

#: Longest request body read at ``register/`` (bytes): a registration is well under 2 KiB.
MAX_BODY = 16 * 1024
MAX_NAME = 200
MAX_URI = 2000
MAX_REDIRECT_URIS = 20
AUTH_METHODS = ("none", "client_secret_basic", "client_secret_post")
#: Fields answered by the server, never taken from the request.
SERVER_FIELDS = frozenset({"client_id", "client_secret", "client_id_issued_at",
                           "client_secret_expires_at", "registration_access_token",
                           "registration_client_uri"})
_LINKS = ("client_uri", "logo_uri", "policy_uri", "tos_uri")


@dataclass(frozen=True, slots=True)
class Metadata:
    """The metadata registered: what the response echoes and the client record keeps."""

    redirect_uris: tuple[str, ...]
    grant_types: tuple[GrantType, ...]
    auth_method: str
    client_name: str
    client_uri: str
    scopes: tuple[str, ...]
    #: OpenID Connect RP-Initiated Logout 1.0 §3.1, under the redirect URI rules.
    post_logout_redirect_uris: tuple[str, ...] = ()
    #: RFC 9126 §6: ``auth/`` takes its requests only when pushed to ``par/``.
    require_par: bool = False
    #: OpenID Connect Dynamic Client Registration 1.0 §2; empty: the server's RS256.
    id_token_signed_response_alg: str = ""
    #: RFC 9449 §5.2: ``token/`` refuses this client's requests without a DPoP proof.
    dpop_bound: bool = False

    @property
    def public(self) -> bool:
        return self.auth_method == "none"


def parse_json(body: bytes) -> dict[str, Any]:
    """The request's JSON object: UTF-8, an object, no key twice (RFC 8259 §4 leaves a
    duplicate to the parser; two parsers reading two different clients is refused)."""
    def unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        keys = [key for key, _ in pairs]
        if len(set(keys)) != len(keys):
            raise InvalidClientMetadata("A metadata field appears twice.")
        return dict(pairs)

    try:
        value = json.loads(body.decode("utf-8"), object_pairs_hook=unique)
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise InvalidClientMetadata("The body must be a JSON object in UTF-8.") from None
    if not isinstance(value, dict):
        raise InvalidClientMetadata("The body must be a JSON object.")
    return value


def _text(data: dict[str, Any], name: str, limit: int) -> str:
    value = data.get(name, "")
    if not isinstance(value, str) or len(value) > limit:
        raise InvalidClientMetadata(f"{name} must be a string of at most {limit} characters.")
    try:
        return check_typed_text(value.strip(), name)
    except ValueError:
        raise InvalidClientMetadata(f"{name} must not contain control characters.") from None


def _names(data: dict[str, Any], name: str, default: list[str]) -> list[str]:
    value = data.get(name, default)
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value) \
            or len(value) > MAX_REDIRECT_URIS:
        raise InvalidClientMetadata(f"{name} must be a non-empty array of strings.")
    return list(dict.fromkeys(value))


def _https(data: dict[str, Any], name: str) -> str:
    """An https URL (RFC 7591 §2: these are shown to the user, so never a script or http)."""
    value = _text(data, name, MAX_URI)
    if value and (urlsplit(value).scheme != "https" or not urlsplit(value).hostname
                  or not value.isascii() or any(ch.isspace() for ch in value)):
        raise InvalidClientMetadata(f"{name} must be an https URL.")
    return value


def _auth_method(data: dict[str, Any], policy: RegistrationPolicy) -> str:
    """The requested method; omitted, the strongest this policy allows (RFC 7591 §2 says
    client_secret_basic, which open registration replaces by none, as §3.2.1 lets it)."""
    value = data.get("token_endpoint_auth_method",
                     "client_secret_basic" if policy.confidential_allowed else "none")
    if value not in AUTH_METHODS:
        raise InvalidClientMetadata("token_endpoint_auth_method must be none, "
                                    "client_secret_basic or client_secret_post.")
    if value != "none" and not policy.confidential_allowed:
        raise InvalidClientMetadata("Only public clients (token_endpoint_auth_method=none) "
                                    "may register here.")
    return str(value)


def _grants(data: dict[str, Any], public: bool, enabled: frozenset[str]) -> tuple[GrantType, ...]:
    """Grant and response types, consistent with each other (RFC 7591 §2.1)."""
    grants = _names(data, "grant_types", ["authorization_code"])
    allowed = {"authorization_code", "refresh_token"} | (set() if public
                                                         else {"client_credentials"})
    if not set(grants) <= allowed & enabled:
        raise InvalidClientMetadata("grant_types may hold " + ", ".join(sorted(allowed & enabled))
                                    + " only.")
    responses = _names(data, "response_types",
                       ["code"] if "authorization_code" in grants else ["none"])
    if set(responses) - {"code", "none"} or ("code" in responses) != (
            "authorization_code" in grants):
        raise InvalidClientMetadata("response_types must be code exactly when grant_types "
                                    "holds authorization_code (RFC 7591 §2.1).")
    if grants == ["refresh_token"]:
        raise InvalidClientMetadata("refresh_token needs a grant that issues one.")
    return tuple(grants)  # type: ignore[arg-type]


def _redirect_uris(data: dict[str, Any], grants: tuple[str, ...],
                   policy: RegistrationPolicy) -> tuple[str, ...]:
    if "authorization_code" not in grants:
        return ()
    value = data.get("redirect_uris")
    if not isinstance(value, list) or not 0 < len(value) <= MAX_REDIRECT_URIS \
            or not all(isinstance(uri, str) for uri in value):
        raise InvalidRedirectUri(f"redirect_uris must hold 1 to {MAX_REDIRECT_URIS} URIs "
                                 "for authorization_code.")
    return _checked_uris(value, policy)


def _logout_uris(data: dict[str, Any], policy: RegistrationPolicy) -> tuple[str, ...]:
    """OpenID Connect RP-Initiated Logout 1.0 §3.1, checked as redirect URIs are."""
    value = data.get("post_logout_redirect_uris", [])
    if not isinstance(value, list) or len(value) > MAX_REDIRECT_URIS \
            or not all(isinstance(uri, str) for uri in value):
        raise InvalidClientMetadata(f"post_logout_redirect_uris must hold at most "
                                    f"{MAX_REDIRECT_URIS} URIs.")
    return _checked_uris(value, policy)


def _checked_uris(value: list[str], policy: RegistrationPolicy) -> tuple[str, ...]:
    uris = list(dict.fromkeys(value))
    for uri in uris:
        try:
            validate_redirect_uri(uri)
        except InvalidRedirectURI as exc:
            raise InvalidRedirectUri(str(exc)) from None
        if not policy.gated and uri.lower().startswith("https:"):
            raise InvalidRedirectUri("Open registration takes loopback http or private-use "
                                     "scheme redirect URIs only.")
    return tuple(uris)


def _id_token_alg(data: dict[str, Any], signed: Iterable[str]) -> str:
    """One of the algorithms the key ring signs ID tokens with; omitted: RS256's default."""
    value = data.get("id_token_signed_response_alg")
    if value is None:
        return ""
    usable = sorted(ASYMMETRIC_ALGORITHMS & set(signed))
    if not isinstance(value, str) or value not in usable:
        raise InvalidClientMetadata("id_token_signed_response_alg must be one of "
                                    f"{', '.join(usable) or '(none: no signing keys)'}.")
    return value


async def _scopes(data: dict[str, Any], store: TokenStore) -> tuple[str, ...]:
    value = data.get("scope", "")
    if not isinstance(value, str) or len(value) > MAX_URI:
        raise InvalidClientMetadata("scope must be a space-separated string.")
    asked = list(dict.fromkeys(value.split(" "))) if value else []
    known = await store.get_scopes(asked) if asked else {}
    if any(s not in known or not known[s].enabled for s in asked):
        raise InvalidClientMetadata("scope names a scope that is not registered.")
    return tuple(asked)


async def validate(data: dict[str, Any], policy: RegistrationPolicy, store: TokenStore,
                   enabled: frozenset[str], signed: Iterable[str] = ()) -> Metadata:
    """The metadata to register, or :class:`InvalidClientMetadata` /
    :class:`InvalidRedirectUri` naming the field (never quoting its value). ``signed``:
    the algorithms the server's key ring signs with."""
    method = _auth_method(data, policy)
    grants = _grants(data, method == "none", enabled)
    uris = _redirect_uris(data, grants, policy)
    name = _text(data, "client_name", MAX_NAME)
    links = {link: _https(data, link) for link in _LINKS}
    return Metadata(redirect_uris=uris, grant_types=grants, auth_method=method,
                    client_name=name, client_uri=links["client_uri"],
                    scopes=await _scopes(data, store),
                    post_logout_redirect_uris=_logout_uris(data, policy),
                    require_par=_flag(data, "require_pushed_authorization_requests"),
                    id_token_signed_response_alg=_id_token_alg(data, signed),
                    dpop_bound=_flag(data, "dpop_bound_access_tokens"))


def _flag(data: dict[str, Any], name: str) -> bool:
    value = data.get(name, False)
    if not isinstance(value, bool):
        raise InvalidClientMetadata(f"{name} must be true or false.")
    return value


def described(metadata: Metadata) -> dict[str, object]:
    """The registered metadata as RFC 7591 §3.2.1 echoes it."""
    answer: dict[str, object] = {
        "redirect_uris": list(metadata.redirect_uris),
        "grant_types": list(metadata.grant_types),
        "response_types": ["code"] if "authorization_code" in metadata.grant_types else [],
        "token_endpoint_auth_method": metadata.auth_method,
    }
    if metadata.client_name:
        answer["client_name"] = metadata.client_name
    if metadata.client_uri:
        answer["client_uri"] = metadata.client_uri
    if metadata.scopes:
        answer["scope"] = " ".join(metadata.scopes)
    if metadata.post_logout_redirect_uris:
        answer["post_logout_redirect_uris"] = list(metadata.post_logout_redirect_uris)
    if metadata.require_par:
        answer["require_pushed_authorization_requests"] = True
    if metadata.dpop_bound:
        answer["dpop_bound_access_tokens"] = True
    if metadata.id_token_signed_response_alg:
        answer["id_token_signed_response_alg"] = metadata.id_token_signed_response_alg
    return answer
