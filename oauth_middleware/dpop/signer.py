"""A DPoP proof's header: its algorithm and public key, checked once per distinct header.

A client signs every proof with the same key, so every proof it sends starts with
the same header segment (``typ``, ``alg``, ``jwk``). Parsing that JSON, importing the
key and computing its RFC 7638 thumbprint cost more than the signature check itself,
so the outcome is remembered by the exact segment (a bounded memo, emptied when
full): the same bytes always give the same key. A header that is refused is never
remembered. The signature is then checked with joserfc's own algorithm (on
``cryptography``), for the key type that algorithm needs.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Any

from oauth_middleware.errors import DPOP_ALGS, InvalidDPoPProof

#: The key each algorithm verifies with: ``kty`` and, where it matters, ``crv``.
_KEYS: dict[str, tuple[str, str | None]] = {
    "ES256": ("EC", "P-256"), "ES384": ("EC", "P-384"), "PS256": ("RSA", None),
    "RS256": ("RSA", None), "Ed25519": ("OKP", "Ed25519"),
}
#: JWK members that only a private (or symmetric) key has (RFC 7518 §6.2.2, §6.3.2, §6.4).
_PRIVATE = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})
#: RSA moduli shorter than this are refused (RFC 7518 §3.3: 2048 bits or larger).
MIN_RSA_BITS = 2048
#: Distinct header segments remembered at most.
MEMO_SIZE = 4096


@dataclass(frozen=True, slots=True)
class Signer:
    """What a header names: the algorithm (joserfc's model), the public key, its thumbprint."""

    alg: Any
    key: Any
    jkt: str

    def verifies(self, signing_input: bytes, signature: bytes) -> bool:
        try:
            return bool(self.alg.verify(signing_input, signature, self.key))
        except (ValueError, TypeError):
            return False


def signer_of(segment: str) -> Signer:
    """The checked header segment's signer; :class:`InvalidDPoPProof` says why not."""
    found = _MEMO.get(segment)
    if found is None:
        found = _signer(segment)
        if len(_MEMO) >= MEMO_SIZE:
            _MEMO.clear()
        _MEMO[segment] = found
    return found


_MEMO: dict[str, Signer] = {}


def _signer(segment: str) -> Signer:
    from joserfc.jws import JWSRegistry

    from oauth_middleware.verifiers.remote import strict_loads

    try:
        header = strict_loads(unb64(segment))
    except (ValueError, RecursionError):
        raise InvalidDPoPProof("The DPoP proof is not a compact JWS.") from None
    if not isinstance(header, dict):
        raise InvalidDPoPProof("The DPoP proof is not a compact JWS.")
    if header.get("typ") != "dpop+jwt" or "crit" in header:
        raise InvalidDPoPProof("The DPoP proof's typ is not dpop+jwt.")
    alg = header.get("alg")
    if alg not in DPOP_ALGS:
        raise InvalidDPoPProof(f"The DPoP proof's alg is not one of {' '.join(DPOP_ALGS)}.")
    key = _key(header.get("jwk"), str(alg))
    return Signer(JWSRegistry.algorithms[str(alg)], key, str(key.thumbprint()))


def _key(jwk: object, alg: str) -> Any:
    from joserfc.errors import JoseError
    from joserfc.jwk import import_key

    kty, crv = _KEYS[alg]
    if not isinstance(jwk, dict) or jwk.get("kty") not in {"EC", "RSA", "OKP"}:
        raise InvalidDPoPProof("The DPoP proof has no public jwk.")
    if _PRIVATE & jwk.keys():
        raise InvalidDPoPProof("The DPoP proof's jwk holds a private key.")
    if jwk["kty"] != kty or (crv is not None and jwk.get("crv") != crv):
        raise InvalidDPoPProof("The DPoP proof's jwk is not a key for its alg.")
    if kty == "RSA" and _bits(jwk.get("n")) < MIN_RSA_BITS:  # before joserfc warns of it
        raise InvalidDPoPProof("The DPoP proof's RSA key is shorter than 2048 bits.")
    try:
        key = import_key(jwk)
    except (JoseError, ValueError, TypeError, KeyError):
        raise InvalidDPoPProof("The DPoP proof's jwk is not a usable key.") from None
    if key.is_private:
        raise InvalidDPoPProof("The DPoP proof's jwk holds a private key.")
    return key


def _bits(modulus: object) -> int:
    """The length of a base64url RSA modulus in bits; 0 for anything else."""
    try:
        return len(unb64(modulus).lstrip(b"\0")) * 8 if isinstance(modulus, str) else 0
    except ValueError:
        return 0


def unb64(part: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))
    except (binascii.Error, ValueError):
        raise ValueError("not base64url") from None
