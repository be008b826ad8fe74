"""Where signing keys come from (RFC 7517): the store, shared and rotated, or files.

Every ring implements :class:`~oauth_middleware.signing.SigningKeys`. ``StoreKeys`` is the
authorization server's default; ``FileKeys`` (``from_files``) takes keys the operator
manages; ``LocalKeys`` serves a debug server given no ``secret_key``. joserfc and
cryptography (the ``jwt`` extra) are imported on first use only.
"""

from oauth_middleware.keyring._files import FileKeys, from_files
from oauth_middleware.keyring._jose import INSTALL, PRIVATE_MEMBERS, available, public_jwk
from oauth_middleware.keyring._local import LocalKeys
from oauth_middleware.keyring._sealing import KeyRingError
from oauth_middleware.keyring._stored import (
    MAX_TOKEN_LIFETIME,
    REFRESH_EVERY,
    KeyInfo,
    StoreKeys,
)

__all__ = [
    "INSTALL",
    "MAX_TOKEN_LIFETIME",
    "PRIVATE_MEMBERS",
    "REFRESH_EVERY",
    "FileKeys",
    "KeyInfo",
    "KeyRingError",
    "LocalKeys",
    "StoreKeys",
    "available",
    "from_files",
    "public_jwk",
]
