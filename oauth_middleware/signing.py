"""The keys the authorization server signs with (RFC 7515, RFC 7517): one interface for
ID tokens (OpenID Connect Core 1.0 §2) and JWT access tokens (RFC 9068).

Both need the same two things: the current private key for an algorithm, to sign, and
every public key a relying party may still meet, to publish at ``jwks_uri``. Where the
keys come from — the shared store (rotated, encrypted at rest) or files the operator
gives — is the implementation's business; the grants see only this protocol.
"""

from __future__ import annotations

import base64
import json
import weakref
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:  # joserfc is the ``jwt`` extra: a server without signed tokens needs none
    from joserfc.jwk import Key


#: JWS algorithms a client may ask its ID tokens be signed with (RFC 7518 §3): public-key
#: signatures only, never ``none`` or an HMAC (the client holds no shared key).
ASYMMETRIC_ALGORITHMS = frozenset({"RS256", "RS384", "RS512", "PS256", "PS384", "PS512",
                                   "ES256", "ES384", "ES512", "EdDSA"})


def id_token_algorithm(value: str) -> str:
    """A client's ``id_token_signed_response_alg``: empty (the server's RS256) or one of
    :data:`ASYMMETRIC_ALGORITHMS`; anything else is refused naming them."""
    if value and value not in ASYMMETRIC_ALGORITHMS:
        raise ValueError("id_token_signed_response_alg must be one of "
                         f"{', '.join(sorted(ASYMMETRIC_ALGORITHMS))}, or empty for RS256")
    return value


@runtime_checkable
class SigningKeys(Protocol):
    """A key ring the authorization server signs with."""

    #: The JWS algorithms it can sign with, preferred first (``RS256`` is always one:
    #: OpenID Connect Core 1.0 §15.1 requires it).
    algorithms: tuple[str, ...]

    async def signing_key(self, alg: str) -> Key:
        """The current private key for ``alg``, its ``kid`` set; ``LookupError`` if none."""
        ...

    async def public_jwks(self) -> dict[str, Any]:
        """``{"keys": [...]}``: every public key still published (current and rotated-out
        keys whose tokens may not have expired yet), never a private member."""
        ...


#: Keys whose encoded header is remembered (a key ring holds a handful at a time).
HEADER_MEMO_SIZE = 64
#: (alg, typ, id(key)) -> (a weak reference to the key, its encoded header). Weak: a retired
#: private key is never kept alive here; an id reused by a later object fails the ``is``.
_HEADERS: dict[tuple[str, str, int], tuple[weakref.ref[Any], bytes]] = {}


def sign_compact(key: Key, alg: str, typ: str, claims: Mapping[str, object]) -> str:
    """The compact JWS (RFC 7515 §7.1) of ``claims`` under ``{"alg", "typ", "kid"}``.

    joserfc's own algorithm signs (on ``cryptography``), after joserfc's check that the
    key suits ``alg`` (type, curve, ``use``/``alg`` members), as ``jwt.encode`` would. That
    check and the header are the same for every token of one key object, so both are done
    once per key and remembered (bounded, emptied when full): a rotated-in key is a new
    object, checked and given its own header. ``claims`` must be JSON values.
    """
    from joserfc.jws import JWSRegistry

    algorithm = JWSRegistry.algorithms[alg]
    found = _HEADERS.get((alg, typ, id(key)))
    if found is not None and found[0]() is key:
        header = found[1]
    else:
        algorithm.check_key(key)  # the key type (and curve) ``alg`` needs, or a JoseError
        fields = {"alg": alg, "typ": typ} | ({"kid": key.kid} if key.kid else {})
        header = _b64json(fields)
        if len(_HEADERS) >= HEADER_MEMO_SIZE:
            _HEADERS.clear()
        _HEADERS[(alg, typ, id(key))] = (weakref.ref(key), header)
    signing_input = header + b"." + _b64json(claims)
    signature = algorithm.sign(signing_input, key)
    return (signing_input + b"." + base64.urlsafe_b64encode(signature).rstrip(b"=")).decode()


#: Compact JSON, NaN refused. One encoder for every token: ``json.dumps`` with options
#: builds a new one on each call.
_JSON = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def _b64json(value: Mapping[str, object]) -> bytes:
    return base64.urlsafe_b64encode(_JSON.encode(value).encode()).rstrip(b"=")
