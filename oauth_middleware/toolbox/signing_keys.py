"""The server's signing keys, for the CLI and the host's code (RFC 7517): list, rotate, retire.

The same operations as :class:`oauth_middleware.keyring.StoreKeys`, which keeps them
in the store every worker reads: a rotation is signed with everywhere within the
ring's ``refresh_every``; a rotated-out key stays published until every token it
signed has expired, then leaves the published set by itself. Rotating seals a new
private key, so it needs the server's ``secret_key``; listing and retiring do not.
"""

from __future__ import annotations

from collections.abc import Iterable

from oauth_middleware.keyring import MAX_TOKEN_LIFETIME, KeyInfo, StoreKeys
from oauth_middleware.settings_checks import ConfigurationError
from oauth_middleware.store import TokenStore

#: Shortest ``secret_key`` accepted, as the authorization server's.
MIN_SECRET_KEY = 32


async def list_signing_keys(store: TokenStore) -> list[KeyInfo]:
    """Every signing key record: current, still published, expired or unreadable."""
    return await StoreKeys(store, None).describe()


async def rotate_signing_keys(
    store: TokenStore, secret_key: str | bytes, algorithms: Iterable[str] | None = None, *,
    max_token_lifetime: int = MAX_TOKEN_LIFETIME,
) -> list[KeyInfo]:
    """A new current key per algorithm (every one when None); ``secret_key`` and
    ``max_token_lifetime`` must be the server's."""
    key = secret_key.encode() if isinstance(secret_key, str) else secret_key
    if len(key) < MIN_SECRET_KEY:
        raise ConfigurationError("secret_key must be the server's (at least 32 bytes)")
    ring = StoreKeys(store, key, max_token_lifetime=max_token_lifetime)
    return await ring.rotate(algorithms)


async def retire_signing_key(store: TokenStore, kid: str) -> bool:
    """Stop publishing ``kid`` now (False: no such key); a current key is refused
    (:class:`~oauth_middleware.keyring.KeyRingError`)."""
    return await StoreKeys(store, None).retire(kid)
