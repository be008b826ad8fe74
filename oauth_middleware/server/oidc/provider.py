"""The OpenID Provider's options (OpenID Connect Core 1.0 §2, §5, §8): one frozen record.

``AuthorizationServer(openid=OpenIDProvider(userinfo=claims_of))`` makes the server an
OpenID Provider: the ``openid`` scope then gets an ID token at ``token/`` and ``auth/``,
``userinfo/`` answers, and ``/.well-known/openid-configuration`` is served. Without it the
server is a plain OAuth 2.0 server and none of that exists.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Literal

#: ``userinfo(user_id, scopes) -> claims``, sync or async: the host's claims about a user.
#: ``scopes`` are the granted ones; the server keeps only the claims they grant (§5.4).
UserInfo = Callable[[str, frozenset[str]],
                    "Awaitable[Mapping[str, object] | None] | Mapping[str, object] | None"]
SubjectKind = Literal["public", "pairwise"]
#: Longest ID-token lifetime accepted (seconds): an ID token is read once, at sign-in.
MAX_ID_TOKEN_LIFETIME = 86_400


@dataclass(frozen=True, kw_only=True)
class OpenIDProvider:
    """What the server needs to speak OpenID Connect; every default is the safe one."""

    #: The host's claims (``name``, ``email``, ...); None: only ``sub`` is known.
    userinfo: UserInfo | None = None
    #: ``public``: ``sub`` is the user id for every client. ``pairwise``: each sector (the
    #: host of a client's redirect URIs) sees its own unlinkable ``sub`` (Core 1.0 §8.1).
    subject_type: SubjectKind = "public"
    #: Seconds an ID token is valid (its ``exp``).
    id_token_lifetime: int = 600

    def __post_init__(self) -> None:
        if self.userinfo is not None and not callable(self.userinfo):
            raise ValueError("OpenIDProvider.userinfo must be a function "
                             "userinfo(user_id, scopes) -> dict, or None")
        if self.subject_type not in ("public", "pairwise"):
            raise ValueError("OpenIDProvider.subject_type must be 'public' or 'pairwise'")
        lifetime = self.id_token_lifetime
        if isinstance(lifetime, bool) or not isinstance(lifetime, int) \
                or not 0 < lifetime <= MAX_ID_TOKEN_LIFETIME:
            raise ValueError(f"OpenIDProvider.id_token_lifetime must be 1 to "
                             f"{MAX_ID_TOKEN_LIFETIME} seconds")
