"""Private keys encrypted at rest (NIST SP 800-38D AES-GCM, RFC 5869 HKDF).

The store holds a signing key only sealed: AES-256-GCM under a key that HKDF derives
from the server's ``secret_key``, the record's kid and alg as associated data, so a
sealed key moved under another kid, or altered by one bit, does not open. Every
primitive is ``cryptography``'s; nothing here is hand-written crypto.
"""

from __future__ import annotations

import base64
import os

from oauth_middleware.keyring._jose import require

#: Marks the sealing scheme, so another one can follow without guessing.
SCHEME = "A256GCM.1"
_SALT = b"oauth-middleware signing keys"
_INFO = b"AES-256-GCM key for signing keys at rest, v1"
_NONCE_BYTES = 12


class KeyRingError(RuntimeError):
    """A signing key cannot be used: it does not decrypt (another ``secret_key`` sealed it,
    or its record was altered), or it cannot be made. Names a kid, never key material."""


class Sealer:
    """Seals and opens private keys with the key derived from one ``secret_key``."""

    __slots__ = ("_aead",)

    def __init__(self, secret_key: bytes) -> None:
        require()
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM
        from cryptography.hazmat.primitives.hashes import SHA256
        from cryptography.hazmat.primitives.kdf.hkdf import HKDF

        key = HKDF(algorithm=SHA256(), length=32, salt=_SALT, info=_INFO).derive(secret_key)
        self._aead = AESGCM(key)

    def __repr__(self) -> str:
        return "Sealer(...)"

    def seal(self, kid: str, alg: str, private_der: bytes) -> str:
        nonce = os.urandom(_NONCE_BYTES)  # a GCM nonce must be unique, not secret
        sealed = self._aead.encrypt(nonce, private_der, _bound(kid, alg))
        return f"{SCHEME}.{base64.urlsafe_b64encode(nonce + sealed).decode('ascii')}"

    def open(self, kid: str, alg: str, sealed: str) -> bytes:
        """The private key's DER; :class:`KeyRingError` when it does not open."""
        from cryptography.exceptions import InvalidTag

        scheme, _, body = sealed.rpartition(".")
        try:
            if scheme != SCHEME:
                raise ValueError(scheme)
            raw = base64.urlsafe_b64decode(body.encode("ascii"))
            return self._aead.decrypt(raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], _bound(kid, alg))
        except (InvalidTag, ValueError, UnicodeError):
            raise KeyRingError(
                f"signing key {kid!r} ({alg}) does not decrypt: the secret_key differs from the "
                "one that sealed it, or its record in the store was altered") from None


def _bound(kid: str, alg: str) -> bytes:
    return f"{SCHEME}|{alg}|{kid}".encode()
