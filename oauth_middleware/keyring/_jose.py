"""The JOSE library (RFC 7515, RFC 7517), imported only when a key is needed.

joserfc and cryptography are the ``jwt`` extra: ``import oauth_middleware`` and a server
that signs nothing work without them, and the first key asked for says how to get them.
"""

from __future__ import annotations

from importlib.util import find_spec
from typing import TYPE_CHECKING, Any

from oauth_middleware.settings_checks import ConfigurationError

if TYPE_CHECKING:
    from joserfc.jwk import ECKey, RSAKey

#: What to run when the extra is missing (said by every refusal below).
INSTALL = "pip install 'oauth-middleware[jwt]'"
#: The algorithms a key ring signs with, and the key type and size or curve each needs.
ALGORITHMS = ("RS256", "ES256")
#: Smallest RSA modulus accepted (NIST SP 800-131A: 2048 bits through 2030).
MIN_RSA_BITS = 2048
#: Members of a JWK that belong to a private or symmetric key (RFC 7518 §6.2.2, §6.3.2,
#: §6.4.1): never published.
PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})


class UnusableKey(ValueError):
    """A key that parsed but cannot sign here; the message says why (never key material)."""


def available() -> bool:
    """Whether the ``jwt`` extra is installed (without importing it)."""
    return find_spec("joserfc") is not None and find_spec("cryptography") is not None


def require() -> None:
    """Refuse clearly when the extra is missing."""
    if not available():
        raise ConfigurationError(f"signed tokens need joserfc and cryptography: {INSTALL}")


def generate(alg: str, *, rsa_bits: int = MIN_RSA_BITS) -> RSAKey | ECKey:
    """A new private key for ``alg``, its kid the RFC 7638 thumbprint."""
    require()
    from joserfc.jwk import ECKey, RSAKey

    key: RSAKey | ECKey
    if alg == "RS256":
        key = RSAKey.generate_key(max(rsa_bits, MIN_RSA_BITS))
    elif alg == "ES256":
        key = ECKey.generate_key("P-256")
    else:
        raise LookupError(f"no key type for {alg!r}: one of {', '.join(ALGORITHMS)}")
    key.ensure_kid()
    return key


def private_der(key: RSAKey | ECKey) -> bytes:
    """The private key as PKCS#8 DER, to be sealed."""
    return key.as_bytes(encoding="DER", private=True)


def import_private(data: bytes | str | dict[str, Any], kid: str | None = None
                   ) -> tuple[str, RSAKey | ECKey]:
    """``(alg, key)`` from a private key (PEM, DER or a JWK dict); :class:`UnusableKey` for a
    public key, a short RSA key or a curve other than P-256, ``ValueError`` or joserfc's
    ``JoseError`` for data that is no key. ``kid``: given, the JWK's,
    or the RFC 7638 thumbprint."""
    require()
    from joserfc.jwk import ECKey, RSAKey

    kty = data.get("kty") if isinstance(data, dict) else None
    key: RSAKey | ECKey
    if kty == "RSA" or (kty is None and _is_rsa(data)):
        if _rsa_bits(data) < MIN_RSA_BITS:  # before joserfc, which only warns
            raise UnusableKey(f"an RSA key of at least {MIN_RSA_BITS} bits is needed")
        key, alg = RSAKey.import_key(data), "RS256"
    elif kty in ("EC", None):
        key, alg = ECKey.import_key(data), "ES256"
        if key.get("crv") != "P-256":
            raise UnusableKey("an EC key must be on the P-256 curve (ES256)")
    else:
        raise UnusableKey(f"a key of type {kty!r} cannot sign RS256 or ES256")
    if not key.is_private:
        raise UnusableKey("a private key is needed to sign (this is a public key)")
    named = kid or (data.get("kid") if isinstance(data, dict) else None)
    if named and key.kid != named:
        key = type(key).import_key(private_der(key), parameters={"kid": named})
    key.ensure_kid()
    return alg, key


def _is_rsa(data: bytes | str | dict[str, Any]) -> bool:
    return _rsa_bits(data) > 0


def _rsa_bits(data: bytes | str | dict[str, Any]) -> int:
    """The modulus size of an RSA private key (a JWK's from ``n``); 0 for any other data."""
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.hazmat.primitives.serialization import (
        load_der_private_key,
        load_pem_private_key,
    )

    if isinstance(data, dict):
        n = data.get("n")
        return len(n) * 6 if isinstance(n, str) else 0  # base64url: 6 bits a character
    raw = data.encode() if isinstance(data, str) else data
    loader = load_pem_private_key if raw.lstrip().startswith(b"-----") else load_der_private_key
    try:
        key = loader(raw, password=None)
    except (ValueError, TypeError):
        return 0
    return key.key_size if isinstance(key, rsa.RSAPrivateKey) else 0


def public_jwk(key: RSAKey | ECKey, alg: str) -> dict[str, Any]:
    """The public half as published (RFC 7517 §4): ``kid``, ``alg``, ``use=sig``, and no
    private member, whatever the key object holds."""
    jwk = {name: value for name, value in key.as_dict(private=False).items()
           if name not in PRIVATE_MEMBERS}
    jwk.update(kid=key.kid or key.thumbprint(), alg=alg, use="sig")
    return jwk
