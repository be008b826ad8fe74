"""Proof Key for Code Exchange at the token endpoint (RFC 7636 §4.5-4.6, RFC 9700 §2.1.1).

PKCE is an explicit call in the code grant, not a hidden side effect. Every
failure is ``invalid_grant`` (RFC 7636 §4.6), including a ``code_verifier``
sent for a code issued without a challenge: RFC 9700 §4.8.2 asks servers to
refuse that, or an attacker could strip PKCE from an intercepted flow.
"""

from __future__ import annotations

import re

from oauth_middleware.errors import InvalidGrant
from oauth_middleware.models import AuthorizationCode
from oauth_middleware.security import constant_time_equals, pkce_s256

#: RFC 7636 §4.1: code-verifier = 43*128unreserved
_VERIFIER = re.compile(r"[A-Za-z0-9\-._~]{43,128}")


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
    if verifier is None or not _VERIFIER.fullmatch(verifier):
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
