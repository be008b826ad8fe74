"""Signing keys of one process only, for debug mode without a ``secret_key``.

A server in debug mode without a ``secret_key`` gets a random one per process, so keys
sealed in the store by one run could not be opened by the next (nor by another worker).
Such a server keeps its keys in memory instead: made on first use, published at
``jwks/``, gone with the process, like the rest of a single-process demo's secrets.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from oauth_middleware.keyring._jose import ALGORITHMS, generate, public_jwk

if TYPE_CHECKING:
    from joserfc.jwk import ECKey, RSAKey


class LocalKeys:
    """A :class:`~oauth_middleware.signing.SigningKeys` ring held by this process alone."""

    algorithms: tuple[str, ...] = ALGORITHMS

    def __init__(self) -> None:
        self._keys: dict[str, RSAKey | ECKey] = {}
        self._lock = asyncio.Lock()

    def __repr__(self) -> str:
        return "LocalKeys()"

    async def signing_key(self, alg: str) -> RSAKey | ECKey:
        """This process's key for ``alg``, made on first use."""
        if alg not in self.algorithms:
            raise LookupError(f"no signing key for {alg!r}: one of {', '.join(self.algorithms)}")
        async with self._lock:
            if alg not in self._keys:
                self._keys[alg] = await asyncio.to_thread(generate, alg)
        return self._keys[alg]

    async def public_jwks(self) -> dict[str, Any]:
        """Every algorithm's key (made now when missing), public members only."""
        for alg in self.algorithms:
            await self.signing_key(alg)
        return {"keys": [public_jwk(self._keys[alg], alg) for alg in self.algorithms]}
