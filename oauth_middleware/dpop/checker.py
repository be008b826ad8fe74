"""A proof checked against the store too (RFC 9449 §4.3 checks 10-12, §8, §11.1).

:func:`.proof.verify` judges the proof alone; :class:`ProofChecker` adds what needs
shared state: the server's nonce when it asks for one, and the replay cache, a proof's
``jti`` being accepted once per key (one ``SET NX PX``, so of concurrent replays one
wins). The nonce is checked first: a proof refused for it leaves its ``jti`` unused.
The nonces are the store's, remembered per window (:mod:`oauth_middleware.store._dpop`).
"""

from __future__ import annotations

from oauth_middleware.dpop.proof import Proof, verify
from oauth_middleware.errors import InvalidDPoPProof, UseDPoPNonce
from oauth_middleware.security import constant_time_equals
from oauth_middleware.store import TokenStore

#: Seconds a proof's ``iat`` may be off the server's clock, either way.
DEFAULT_WINDOW = 60


def single_proof(headers: list[tuple[bytes, bytes]]) -> str | None:
    """The one ``DPoP`` header's value; None without one (RFC 9449 §4.3 check 1: "not more
    than one"), :class:`InvalidDPoPProof` for two or an empty or non-ASCII one."""
    found = [value for name, value in headers if name == b"dpop"]
    if not found:
        return None
    if len(found) > 1:
        raise InvalidDPoPProof("More than one DPoP header.")
    value = found[0].strip()
    if not value or not value.isascii():
        raise InvalidDPoPProof("The DPoP header is empty or malformed.")
    return value.decode("ascii")


class ProofChecker:
    """Checks proofs for one side: ``nonce_period`` (seconds) makes it demand nonces."""

    def __init__(self, store: TokenStore, *, window: float = DEFAULT_WINDOW,
                 nonce_period: int | None = None) -> None:
        if not 0 < window <= 300:
            raise ValueError(f"window={window!r} is wrong: seconds, 1 to 300")
        if nonce_period is not None and not 10 <= nonce_period <= 86400:
            raise ValueError(f"nonce_period={nonce_period!r} is wrong: seconds, 10 to 86400")
        self.store = store
        self.window = window
        self.nonce_period = nonce_period

    async def check(self, proof: str, *, method: str, url: str,
                    access_token: str | None = None, jkt: str | None = None) -> Proof:
        """The valid, unused proof; :class:`InvalidDPoPProof` or :class:`UseDPoPNonce`.
        ``jkt``: the key the proof must be made with (a bound token's), checked before
        the proof is remembered."""
        checked = verify(proof, method=method, url=url, now=self.store.clock(),
                         window=self.window, access_token=access_token)
        if jkt is not None and not constant_time_equals(checked.jkt, jkt):
            raise InvalidDPoPProof("The DPoP proof is made with another key than the token's.")
        if self.nonce_period is not None:
            await self._check_nonce(checked.nonce, self.nonce_period)
        if not await self.store.dpop.first_use(checked.jkt, checked.jti, 2 * self.window):
            raise InvalidDPoPProof("The DPoP proof was used before (jti).")
        return checked

    async def _check_nonce(self, nonce: str | None, period: int) -> None:
        """:class:`UseDPoPNonce` unless ``nonce`` is the current or the previous window's.
        A nonce the store does not remember is looked up in Redis again before it is
        refused: another worker may know a newer one."""
        current, previous = await self.store.dpop.nonces(period)
        if nonce is not None and nonce not in (current, previous):
            current, previous = await self.store.dpop.nonces(period, fresh=True)
        if nonce is None or nonce not in (current, previous):
            raise UseDPoPNonce(current)

    async def current_nonce(self) -> str | None:
        """The nonce to send in ``DPoP-Nonce`` on success; None when nonces are off."""
        if self.nonce_period is None:
            return None
        return (await self.store.dpop.nonces(self.nonce_period))[0]
