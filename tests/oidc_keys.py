"""A test-only key ring (``oauth_middleware.signing.SigningKeys``): RS256 and ES256 keys made
once per test process with joserfc, never stored. The real key ring is the store's."""

from __future__ import annotations

from functools import cache
from typing import Any

from joserfc.jwk import ECKey, Key, RSAKey


class TestKeys:
    """Signs with one key per algorithm; publishes their public halves."""

    __test__ = False  # not a test class, whatever pytest thinks of the name
    algorithms: tuple[str, ...] = ("RS256", "ES256")

    def __init__(self, keys: dict[str, Key]) -> None:
        self.keys = keys

    async def signing_key(self, alg: str) -> Key:
        try:
            return self.keys[alg]
        except KeyError:
            raise LookupError(f"no key for {alg}") from None

    async def public_jwks(self) -> dict[str, Any]:
        return {"keys": [dict(k.as_dict(private=False)) for k in self.keys.values()]}


@cache
def ring() -> TestKeys:
    """The process's key ring (RSA generation takes a while: once is enough)."""
    return TestKeys({
        "RS256": RSAKey.generate_key(2048, {"alg": "RS256", "use": "sig"}, auto_kid=True),
        "ES256": ECKey.generate_key("P-256", {"alg": "ES256", "use": "sig"}, auto_kid=True),
    })


@cache
def foreign_ring() -> TestKeys:
    """Another issuer's keys: what a forged or foreign ID token is signed with."""
    return TestKeys({
        "RS256": RSAKey.generate_key(2048, {"alg": "RS256", "use": "sig"}, auto_kid=True),
        "ES256": ECKey.generate_key("P-256", {"alg": "ES256", "use": "sig"}, auto_kid=True),
    })
