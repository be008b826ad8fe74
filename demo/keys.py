"""The demo's secret key, and signing keys an earlier run sealed with another one.

The store-backed key ring seals its private keys with a key derived from the server's
``secret_key``. The demo reads that secret from ``OAUTH_SECRET_KEY``, else makes one per
start: with ``REDIS_URL``, the keys a previous run left in Redis then cannot be opened,
and ``jwks/`` (so every ID token) would answer 503 until someone rotated them. So at start
such keys are replaced: new ones are made and the old ones retired (they can neither sign
nor be published), and the demo says so.
"""

from __future__ import annotations

from oauth_middleware.keyring import KeyRingError, StoreKeys
from oauth_middleware.signing import SigningKeys

#: Shortest OAUTH_SECRET_KEY accepted (what AuthorizationServer requires).
MIN_SECRET_BYTES = 32


async def replace_unreadable_keys(keys: SigningKeys | None) -> list[str]:
    """Rotate away current keys this secret cannot open; the kids retired (none: all fine)."""
    if not isinstance(keys, StoreKeys):
        return []
    try:
        await keys.public_jwks()
    except KeyRingError:
        unreadable = [info.kid for info in await keys.describe() if info.state == "current"]
        await keys.rotate()
        for kid in unreadable:
            await keys.retire(kid)
        return unreadable
    return []
