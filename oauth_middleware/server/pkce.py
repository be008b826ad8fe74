"""PKCE at the authorization endpoint (RFC 7636 §4.3, §4.4.1; RFC 9700 §2.1.1).

The authorization endpoint only records the challenge; the token endpoint
verifies the verifier against it. What is checked here: whether the client
must use PKCE, that the method is ``S256`` (``plain`` only for a client
registered with ``allow_plain_pkce``), and the challenge's shape.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from oauth_middleware.errors import InvalidRequest
from oauth_middleware.models import Client

#: The methods this server accepts at all; ``plain`` still needs the client's opt-in.
METHODS = ("S256", "plain")
#: RFC 7636 §4.2: BASE64URL(SHA256(verifier)) without padding is exactly 43 characters.
_S256_CHALLENGE = re.compile(r"[A-Za-z0-9_-]{43}")
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
    pattern = _S256_CHALLENGE if method == "S256" else _PLAIN_CHALLENGE
    if not pattern.fullmatch(challenge):
        raise InvalidRequest("The code_challenge is malformed.")
    return Challenge(challenge, method)
