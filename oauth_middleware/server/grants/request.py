"""The token request a grant is handed (RFC 6749 §3.2, §4.1.3, §6): one object per request.

The token endpoint parses the form, authenticates the client and reads, in the
same round trip, what the grant declared it needs (:class:`Prefetch`): a grant
names form parameters, never storage types, and receives records — the code or
refresh token it redeems, already read — in one :class:`TokenRequest`. Nothing
in it is trusted before the client authenticated, so it is built only after.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from oauth_middleware.errors import SCOPE_TOKEN
from oauth_middleware.models import AccessToken, AuthorizationCode, Client, RefreshToken
from oauth_middleware.store import ClientRead, Lookahead, ScopeSnapshot

#: Requested scopes read along with the client at most; a longer list is read after it.
MAX_LOOKAHEAD_SCOPES = 32


def lookahead_scopes(params: Mapping[str, str]) -> tuple[str, ...]:
    """The well-formed requested scopes, to read along with the client; never raises, since
    nothing may be refused before the client has authenticated."""
    raw = params.get("scope")
    items = tuple(s for s in raw.split(" ") if SCOPE_TOKEN.fullmatch(s)) if raw else ()
    return items if len(items) <= MAX_LOOKAHEAD_SCOPES else ()


@dataclass(frozen=True, slots=True)
class Prefetch:
    """What a grant reads along with its client, named by the form parameter carrying it.

    Declared once per grant class (``PREFETCH``), so the endpoint can read it before it
    knows the client is genuine and the grant never touches the read itself.
    """

    #: Read the scopes the ``scope`` parameter names (the client's usual ones always are).
    requested_scopes: bool = True
    #: The parameter holding an authorization code to read (RFC 6749 §4.1.3).
    code: str | None = None
    #: The parameter holding a refresh token to read, with its grant's record (RFC 6749 §6).
    refresh: str | None = None
    #: The parameter holding a token of either kind to read (RFC 8693 §2.1 ``subject_token``).
    token: str | None = None

    def lookahead(self, params: Mapping[str, str]) -> Lookahead:
        """The store's read for ``params``; the parameters are read, not checked, here."""
        return Lookahead(
            scopes=lookahead_scopes(params) if self.requested_scopes else (), grants=True,
            code=params.get(self.code) if self.code is not None else None,
            refresh=params.get(self.refresh) if self.refresh is not None else None,
            token=params.get(self.token) if self.token is not None else None,
        )


@dataclass(frozen=True, slots=True)
class TokenRequest:
    """A token request whose client authenticated, with what its grant asked to be read.

    ``code`` and ``refresh`` are the records the presented values name, None when
    unknown or expired (the grant still checks they belong to ``client``).
    ``scope_snapshot`` is handed back to the store for scope lookups, so a scope is
    read once per request.
    """

    params: Mapping[str, str]
    client: Client
    #: The caller's address (:func:`~oauth_middleware.server.throttle.caller_address`),
    #: for a grant that checks a guessable secret and so throttles by it (password).
    address: str
    scope_snapshot: ScopeSnapshot
    code: AuthorizationCode | None = None
    refresh: RefreshToken | None = None
    #: The live record of ``Prefetch.token`` (an access or a refresh token), None if none.
    token: AccessToken | RefreshToken | None = None
    #: RFC 9449 §5: the thumbprint of the request's DPoP proof key; "" without a proof.
    dpop_jkt: str = ""

    @classmethod
    def of(cls, params: Mapping[str, str], read: ClientRead, client: Client,
           address: str, *, dpop_jkt: str = "") -> TokenRequest:
        """The request once ``client`` (``read.client``) authenticated."""
        return cls(params, client, address, read.scopes, read.code, read.refresh, read.token,
                   dpop_jkt)
