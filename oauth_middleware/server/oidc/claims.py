"""Which claims a grant may see (OpenID Connect Core 1.0 §5.1, §5.4, §5.5).

The host's ``userinfo`` hook says what it knows of a user; the granted scopes say
what the user agreed to share: ``profile``, ``email``, ``address`` and ``phone``
each grant their standard claim set (§5.4). A ``claims`` request (§5.5) picks
claims for the ID token, but never beyond those scopes: the consent page shows
scopes, so a claim no granted scope covers was never agreed to, whatever the
client asked. ``sub`` is always the server's (§5.3.2: it must match the ID
token's), never the hook's. The hook is the host's code: an exception or an answer
that is not a JSON object of JSON values is logged by type and treated as no claims.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping

from oauth_middleware.hooks import run_hook
from oauth_middleware.server.oidc.provider import OpenIDProvider

logger = logging.getLogger("oauth_middleware.server.oidc")

#: §5.4: the claims each standard scope grants.
SCOPE_CLAIMS: Mapping[str, frozenset[str]] = {
    "profile": frozenset({
        "name", "family_name", "given_name", "middle_name", "nickname",
        "preferred_username", "profile", "picture", "website", "gender", "birthdate",
        "zoneinfo", "locale", "updated_at"}),
    "email": frozenset({"email", "email_verified"}),
    "address": frozenset({"address"}),
    "phone": frozenset({"phone_number", "phone_number_verified"}),
}
#: Every claim this server can return, for the discovery document.
SUPPORTED_CLAIMS: tuple[str, ...] = (
    "sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "acr", "amr", "azp",
    *sorted(frozenset().union(*SCOPE_CLAIMS.values())),
)
#: Bytes of JSON the hook's answer may take; a larger one is dropped whole.
MAX_CLAIMS_BYTES = 16 * 1024


def granted_claims(scopes: frozenset[str]) -> frozenset[str]:
    """The claim names the granted ``scopes`` cover."""
    return frozenset().union(*(SCOPE_CLAIMS.get(s, frozenset()) for s in scopes))


async def user_claims(provider: OpenIDProvider, user: str, scopes: frozenset[str],
                      wanted: frozenset[str]) -> dict[str, object]:
    """The host's claims about ``user`` named in ``wanted`` (already limited to what
    ``scopes`` grant), JSON-safe; no claims when the hook fails or answers nonsense."""
    hook = provider.userinfo
    if hook is None or not wanted:
        return {}
    try:
        answer = await run_hook(hook, user, scopes)
    except Exception as exc:  # the host's code: its failure must not become our 500
        logger.error("the userinfo hook failed with %s", type(exc).__name__)
        return {}
    if not isinstance(answer, Mapping):
        if answer is not None:
            logger.error("the userinfo hook answered a %s, not a dict", type(answer).__name__)
        return {}
    picked = {k: v for k, v in answer.items() if isinstance(k, str) and k in wanted}
    try:
        size = len(json.dumps(picked, allow_nan=False))
    except (TypeError, ValueError, RecursionError):
        logger.error("the userinfo hook answered claims that are not JSON")
        return {}
    if size > MAX_CLAIMS_BYTES:
        logger.error("the userinfo hook answered %d bytes of claims, over %d",
                     size, MAX_CLAIMS_BYTES)
        return {}
    return picked
