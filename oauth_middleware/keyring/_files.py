"""Signing keys the operator gives as files (RFC 7517 JWK, or PEM): no store, no rotation
by the server — the operator rotates by listing the new key first.

Each file holds one private key: a JWK (JSON, its ``kid`` kept) or a PEM/DER private key
(kid: its RFC 7638 thumbprint). The first key of each algorithm signs; every key is
published, so an old key listed after the new one keeps its tokens verifiable.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from oauth_middleware.keyring._jose import UnusableKey, import_private, public_jwk, require
from oauth_middleware.settings_checks import ConfigurationError

if TYPE_CHECKING:
    from joserfc.jwk import ECKey, RSAKey

#: Largest key file read (a 4096-bit RSA key in PEM is about 3.3 kB).
MAX_FILE_BYTES = 64 * 1024


class FileKeys:
    """A :class:`~oauth_middleware.signing.SigningKeys` ring of fixed keys: ``(alg, key)``
    pairs, each key private with its kid set; RS256 is required (OpenID Connect Core 1.0
    §15.1), kids must differ."""

    def __init__(self, keys: Iterable[tuple[str, RSAKey | ECKey]]) -> None:
        self._keys = list(keys)
        kids = [key.kid for _, key in self._keys]
        duplicated = sorted({kid for kid in kids if kids.count(kid) > 1 and kid})
        if duplicated:
            raise ConfigurationError(f"two signing keys share the kid {duplicated[0]!r}: "
                                     "give each key its own kid")
        self._current: dict[str, RSAKey | ECKey] = {}
        for alg, key in self._keys:
            self._current.setdefault(alg, key)
        if "RS256" not in self._current:
            raise ConfigurationError("the signing keys need an RSA key (RS256, required by "
                                     "OpenID Connect): add one, e.g. openssl genpkey "
                                     "-algorithm RSA -pkeyopt rsa_keygen_bits:2048")
        self.algorithms: tuple[str, ...] = tuple(self._current)
        self._jwks = {"keys": [public_jwk(key, alg) for alg, key in self._keys]}

    def __repr__(self) -> str:
        return f"FileKeys(kids={[key.kid for _, key in self._keys]!r})"

    async def signing_key(self, alg: str) -> RSAKey | ECKey:
        """The first key given for ``alg``; ``LookupError`` when none was."""
        try:
            return self._current[alg]
        except KeyError:
            raise LookupError(f"no signing key for {alg!r}: one of "
                              f"{', '.join(self.algorithms)}") from None

    async def public_jwks(self) -> dict[str, Any]:
        """Every key given, public members only."""
        return {"keys": [dict(jwk) for jwk in self._jwks["keys"]]}


def from_files(*paths: str | Path) -> FileKeys:
    """A :class:`FileKeys` ring from private key files (JWK JSON, PEM or DER)."""
    require()
    if not paths:
        raise ConfigurationError("from_files needs at least one private key file")
    return FileKeys(_read(Path(path)) for path in paths)


def _read(path: Path) -> tuple[str, RSAKey | ECKey]:
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            raise ConfigurationError(f"{path}: over {MAX_FILE_BYTES} bytes, no key file")
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigurationError(f"{path}: cannot be read ({exc.strerror})") from None
    data: bytes | dict[str, Any] = raw
    if raw.lstrip().startswith(b"{"):
        try:
            data = json.loads(raw)
        except ValueError:
            raise ConfigurationError(f"{path}: not a JSON Web Key (invalid JSON)") from None
        if not isinstance(data, dict):
            raise ConfigurationError(f"{path}: not a JSON Web Key (not an object)")
    try:
        return import_private(data)
    except UnusableKey as exc:
        raise ConfigurationError(f"{path}: not a usable private key ({exc})") from None
    except Exception:  # a parser's message may quote the file's content: not shown
        raise ConfigurationError(f"{path}: not a private key (PEM, DER or JWK)") from None
