"""The rules a client's fields must pass (RFC 6749 §2, §2.2, §3.1.2, §3.3).

Shared by registration and editing, so no path can store a field the other refuses.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sized

from oauth_middleware.limits import MAX_LIFETIME, MAX_REDIRECT_URIS
from oauth_middleware.limits import check_lifetime as check_store_lifetime
from oauth_middleware.models import (
    DEFAULT_CONFIDENTIAL_GRANTS,
    DEFAULT_PUBLIC_GRANTS,
    GRANT_TYPES,
    GrantType,
)
from oauth_middleware.policy import check_typed_text as check_typed_text  # re-exported
from oauth_middleware.redirects import validate_redirect_uri
from oauth_middleware.resource_indicators import is_resource

#: Longest client title, and longest description or link, in characters.
MAX_TITLE = 200
MAX_TEXT = 2000


def check_count(items: Sized, limit: int, rule: str) -> None:
    """Refuse a client list longer than ``limit``; ``rule`` says it, e.g. "has at most {}
    redirect URIs"."""
    if len(items) > limit:
        raise ValueError(f"a client {rule.format(limit)} ({len(items)} given)")


def scope_title(identifier: str) -> str:
    """A readable default title: ``"polls:results"`` -> ``"Polls Results"``."""
    words = re.split(r"[:_\-./]+", identifier)
    return " ".join(w[:1].upper() + w[1:] for w in words if w)


#: How every refusal of a typed lifetime describes one.
LIFETIME_RANGE = f"a positive number of seconds up to {MAX_LIFETIME} (ten years)"


def _seconds(value: str, refusal: str) -> int:
    """ASCII digits naming 1 to MAX_LIFETIME seconds (a longer string is refused before
    ``int``; ``str.isdigit`` alone would let "²" through to a bare int() error)."""
    if (not (value.isascii() and value.isdigit()) or len(value) > len(str(MAX_LIFETIME))
            or not 0 < int(value) <= MAX_LIFETIME):
        raise ValueError(refusal)
    return int(value)


def parse_lifetime(text: str) -> int | None:
    """A client's token lifetime as people type it: seconds, or ``never`` (None)."""
    value = text.strip().lower()
    if value == "never":
        return None
    return _seconds(value, f"a token lifetime is {LIFETIME_RANGE}, or 'never'")


def parse_token_lifetime(text: str) -> int | None:
    """One token's lifetime as people type it: seconds, or blank (None) for the client's own."""
    value = text.strip()
    if not value:
        return None
    return _seconds(value, f"a token lifetime is {LIFETIME_RANGE} (blank: the client's)")


def check_lifetime(seconds: int | None, what: str = "token_lifetime") -> int | None:
    """A lifetime given in code: None for never, or 1 to MAX_LIFETIME seconds (the store's
    own bound, checked here first so that nothing is half done when it is refused)."""
    check_store_lifetime(seconds, what)
    return seconds


def text_field(value: str, what: str, limit: int, *, multiline: bool = False) -> str:
    value = value.strip()
    if len(value) > limit:
        raise ValueError(f"the {what} is limited to {limit} characters")
    return check_typed_text(value, what, multiline=multiline)


def link_field(link: str) -> str:
    """The client's home page. Pages make it clickable only when it is absolute http(s)."""
    return text_field(link, "link", MAX_TEXT)


#: Grants that send the user back to a registered redirect URI (RFC 6749 §3.1.2, §4.1, §4.2).
REDIRECT_GRANTS = frozenset({"authorization_code", "implicit"})


def needs_redirect_uri(grant_types: Iterable[str] | None, public: bool) -> bool:
    """True when the grants (the defaults for the client type when None) use a redirect URI."""
    if grant_types is None:
        grant_types = DEFAULT_PUBLIC_GRANTS if public else DEFAULT_CONFIDENTIAL_GRANTS
    return not REDIRECT_GRANTS.isdisjoint(grant_types)


#: How a refusal of the implicit grant for a confidential client names the override.
FORCE_IMPLICIT = "allow_confidential_implicit=True"


def grant_types_for(grant_types: Iterable[str] | None, public: bool, *,
                    allow_confidential_implicit: bool = False) -> tuple[GrantType, ...]:
    """The checked grants. A confidential client is refused the implicit grant unless
    forced: its token would be issued without the secret it has (RFC 9700 §2.1.2)."""
    if grant_types is None:
        return DEFAULT_PUBLIC_GRANTS if public else DEFAULT_CONFIDENTIAL_GRANTS
    chosen = tuple(dict.fromkeys(grant_types))
    if not chosen:
        raise ValueError(f"choose at least one grant type from {', '.join(GRANT_TYPES)}")
    unknown = [g for g in chosen if g not in GRANT_TYPES]
    if unknown:
        raise ValueError(f"unknown grant type {unknown[0]!r}: choose from {', '.join(GRANT_TYPES)}")
    if public and ("client_credentials" in chosen or "password" in chosen):
        raise ValueError("public clients cannot use client_credentials or password: "
                         "register the client as confidential")
    if not public and "implicit" in chosen and not allow_confidential_implicit:
        raise ValueError("a confidential client cannot use the implicit grant (RFC 9700 "
                         "§2.1.2): use authorization_code, which authenticates the client, "
                         f"or pass {FORCE_IMPLICIT} to force it")
    return chosen  # type: ignore[return-value]


def redirect_uris_for(uris: str | Iterable[str], allow_http: bool, known: Iterable[str] = ()
                      ) -> tuple[str, ...]:
    """Checked, de-duplicated URIs (one given as a string is one); ``known`` ones (already
    registered) are kept as they are."""
    uris = [uris] if isinstance(uris, str) else uris
    registered = set(known)
    checked = tuple(dict.fromkeys(
        u if u in registered else validate_redirect_uri(u, allow_http=allow_http) for u in uris
    ))
    check_count(checked, MAX_REDIRECT_URIS, "has at most {} redirect URIs")
    return checked


def resources_for(resources: Iterable[str]) -> tuple[str, ...]:
    """Checked, de-duplicated resource URIs a client may ask for (RFC 8707 §2)."""
    checked = tuple(dict.fromkeys(resources))
    for resource in checked:
        if not is_resource(resource):
            raise ValueError(f"resource {resource!r} must be an absolute URI without "
                             "fragment, e.g. 'https://api.example.com/mcp'")
    return checked


#: How a client's access tokens look (``access_token_format``): a random value, or a
#: JWT signed by the server's key ring (RFC 9068).
TOKEN_FORMATS = ("opaque", "jwt")
#: The algorithms a JWT access token may be signed with (the key ring's).
TOKEN_ALGORITHMS = ("RS256", "ES256")


def check_token_format(token_format: str, alg: str | None) -> tuple[str, str]:
    """``(format, alg)`` for a client: ``alg`` only with ``jwt`` ("" for the key ring's first)."""
    if token_format not in TOKEN_FORMATS:
        raise ValueError(f"access_token_format is one of {', '.join(TOKEN_FORMATS)}")
    alg = alg or ""
    if alg and alg not in TOKEN_ALGORITHMS:
        raise ValueError(f"access_token_alg is one of {', '.join(TOKEN_ALGORITHMS)}")
    if alg and token_format != "jwt":
        raise ValueError("access_token_alg needs access_token_format='jwt'")
    return token_format, alg
