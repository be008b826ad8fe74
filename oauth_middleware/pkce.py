"""PKCE, both halves (RFC 7636 §4.3-4.6; RFC 9700 §2.1.1): shared by auth/, token/ and tooling.

The authorization endpoint records the challenge (:func:`check_challenge`):
whether the client must use PKCE, that the method is ``S256`` (``plain`` only
for a client registered with ``allow_plain_pkce``), and the challenge's shape.
The token endpoint proves the verifier against it (:func:`verify_pkce`), an
explicit call in the code grant. Every failure there is ``invalid_grant``
(RFC 7636 §4.6), including a ``code_verifier`` sent for a code issued without a
challenge: RFC 9700 §4.8.2 asks servers to refuse that, or an attacker could
strip PKCE from an intercepted flow.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from oauth_middleware.errors import InvalidGrant, InvalidRequest
from oauth_middleware.models import AuthorizationCode, Client
from oauth_middleware.security import constant_time_equals, pkce_s256

#: The methods this server accepts at all; ``plain`` still needs the client's opt-in.
METHODS = ("S256", "plain")
#: RFC 7636 §4.2: BASE64URL(SHA256(verifier)) without padding is exactly 43 characters.
S256_CHALLENGE = re.compile(r"[A-Za-z0-9_-]{43}")
#: RFC 7636 §4.1: 43 to 128 characters of the unreserved set (a plain challenge is a verifier).
_PLAIN_CHALLENGE = re.compile(r"[A-Za-z0-9._~-]{43,128}")


@dataclass(frozen=True, slots=True)
class Challenge:
    value: str
    method: str


def check_challenge(
    client: Client, challenge: str | None, method: str | None, *, required: bool
) -> Challenge | None:
    """The PKCE challenge of a code request, or :class:`InvalidRequest` (RFC 7636 §4.4.1).

    ``required`` is true for public clients and, when the server says so, for
    every client. A missing method means ``plain`` (RFC 7636 §4.3), which is
    refused unless the client was registered with ``allow_plain_pkce``.
    """
    if challenge is None:
        if method is not None:
            raise InvalidRequest("code_challenge_method was sent without a code_challenge.")
        if required:
            raise InvalidRequest("PKCE is required: send code_challenge with method S256.")
        return None
    method = method or "plain"
    if method not in METHODS:
        raise InvalidRequest("Unsupported code_challenge_method: use S256.")
    if method == "plain" and not client.allow_plain_pkce:
        raise InvalidRequest("code_challenge_method must be S256.")
    pattern = S256_CHALLENGE if method == "S256" else _PLAIN_CHALLENGE
    if not pattern.fullmatch(challenge):
        raise InvalidRequest("The code_challenge is malformed.")
    return Challenge(challenge, method)


def verify_pkce(
    code: AuthorizationCode, verifier: str | None, *, required: bool, allow_plain: bool
) -> None:
    """Raise :class:`InvalidGrant` unless ``verifier`` proves the code's challenge.

    ``required`` is true for public clients and, when the server says so, for
    every client; ``plain`` counts only for clients explicitly allowed it.
    """
    if code.code_challenge is None:
        if verifier is not None:
            raise InvalidGrant("A code_verifier was sent for a code issued without PKCE.")
        if required:
            raise InvalidGrant("This client must use PKCE.")
        return
    if verifier is None or not _PLAIN_CHALLENGE.fullmatch(verifier):
        raise InvalidGrant("The code_verifier is missing or malformed.")
    method = code.code_challenge_method or "plain"
    if method == "S256":
        computed = pkce_s256(verifier)
    elif method == "plain" and allow_plain:
        computed = verifier
    else:
        raise InvalidGrant("The code challenge method is not allowed.")
    if not constant_time_equals(computed, code.code_challenge):
        raise InvalidGrant("The code_verifier does not match the code challenge.")
