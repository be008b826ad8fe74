"""DPoP proof JWTs (RFC 9449 §4.2, §4.3): one parser and checker for both halves.

:func:`verify` checks everything a proof says about itself and the request it came
with, and nothing that needs the store: the replay cache (``jti``) and server
nonces are :mod:`.checker`'s. A proof is refused (:class:`InvalidDPoPProof`) unless:

- it is at most :data:`MAX_PROOF_SIZE` bytes and a compact JWS of three base64url
  parts whose header and claims are JSON objects with no name repeated;
- ``typ`` is ``dpop+jwt``; ``alg`` is one of :data:`~oauth_middleware.errors.DPOP_ALGS`
  (asymmetric only: never ``none``, never an HMAC); no ``crit``;
- ``jwk`` is a public key of the type ``alg`` needs, RSA of 2048 bits or more (a private
  member, ``d`` and the like, is refused: a client that sends its private key has none
  left to prove); :mod:`.signer` checks the header;
- the signature verifies with that key (joserfc, on ``cryptography``);
- ``jti`` is a string of 1 to 256 characters; ``htm`` equals the request's method;
  ``htu`` equals the request's URL, both normalised (:func:`.htu.normalised`);
- ``iat`` is within ``window`` seconds of ``now`` either way;
- ``ath`` is the base64url SHA-256 of ``access_token`` when one is presented (§4.3
  check 11): a proof made for no token, or for another one, is refused with it.

The key's RFC 7638 thumbprint (``jkt``) is what tokens are bound to (``cnf.jkt``).
joserfc is imported on first use: it is the ``jwt`` extra.
"""

from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from oauth_middleware.dpop.htu import normalised
from oauth_middleware.dpop.signer import signer_of, unb64
from oauth_middleware.errors import InvalidDPoPProof

#: Longest proof looked at (bytes): an RSA-4096 key and a nonce fit several times over.
MAX_PROOF_SIZE = 8192
#: A compact JWS: three base64url parts, matched in one pass over the whole proof.
_COMPACT = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")
MAX_JTI = 256
#: Distinct URLs whose normalised form is remembered (each at most a proof's size).
HTU_MEMO_SIZE = 256


@dataclass(frozen=True, slots=True)
class Proof:
    """What a valid proof tells: its key's thumbprint, its id, when it was made, its nonce."""

    jkt: str
    jti: str
    iat: float
    nonce: str | None


def ath(access_token: str) -> str:
    """The ``ath`` claim for ``access_token`` (RFC 9449 §4.2): base64url SHA-256, no padding."""
    return _b64(hashlib.sha256(access_token.encode("ascii")).digest())


def verify(proof: str, *, method: str, url: str, now: float, window: float,
           access_token: str | None = None) -> Proof:
    """The checked proof of a request to ``method`` ``url``; see the module docstring."""
    if len(proof) > MAX_PROOF_SIZE or not _COMPACT.fullmatch(proof):
        raise InvalidDPoPProof("The DPoP proof is not a compact JWS.")
    parts = proof.split(".")
    signer = signer_of(parts[0])
    if not signer.verifies(f"{parts[0]}.{parts[1]}".encode("ascii"), _unb64_or_empty(parts[2])):
        raise InvalidDPoPProof("The DPoP proof's signature does not verify.")
    claims = _claims(parts[1])
    jti, htm, htu, iat = (claims.get(name) for name in ("jti", "htm", "htu", "iat"))
    if not isinstance(jti, str) or not 0 < len(jti) <= MAX_JTI:
        raise InvalidDPoPProof("The DPoP proof has no valid jti.")
    if htm != method:
        raise InvalidDPoPProof("The DPoP proof is for another method (htm).")
    if not isinstance(htu, str) or _normalised_or_none(htu) != _normalised(url):
        raise InvalidDPoPProof("The DPoP proof is for another URL (htu).")
    if not isinstance(iat, int | float) or isinstance(iat, bool) or not abs(iat - now) <= window:
        raise InvalidDPoPProof("The DPoP proof is too old or from the future (iat).")
    _token_hash(claims.get("ath"), access_token)
    nonce = claims.get("nonce")
    if nonce is not None and not isinstance(nonce, str):
        raise InvalidDPoPProof("The DPoP proof's nonce is not a string.")
    return Proof(signer.jkt, jti, float(iat), nonce)


def _claims(segment: str) -> dict[str, Any]:
    from oauth_middleware.verifiers.remote import strict_loads

    try:
        claims = strict_loads(unb64(segment))
    except (ValueError, RecursionError):
        raise InvalidDPoPProof("The DPoP proof is not a compact JWS.") from None
    if not isinstance(claims, dict):
        raise InvalidDPoPProof("The DPoP proof is not a compact JWS.")
    return claims


def _unb64_or_empty(part: str) -> bytes:
    try:
        return unb64(part)
    except ValueError:
        return b""


def _token_hash(claimed: object, access_token: str | None) -> None:
    if access_token is None:
        return
    from oauth_middleware.security import constant_time_equals

    if not isinstance(claimed, str) or not constant_time_equals(claimed, ath(access_token)):
        raise InvalidDPoPProof("The DPoP proof is for another access token (ath).")


@lru_cache(maxsize=HTU_MEMO_SIZE)
def _normalised(url: str) -> str:
    """:func:`.htu.normalised`, each spelling parsed once: a client sends the same ``htu``
    on every proof for one endpoint, and the server's URL for it is the same too (a pure
    function, a bounded memo; a ValueError is raised again each time, never remembered)."""
    return normalised(url)


def _normalised_or_none(url: str) -> str | None:
    try:
        return _normalised(url)
    except ValueError:
        return None


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")
