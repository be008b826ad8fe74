"""Demonstrating Proof of Possession (RFC 9449): proofs, token binding, the replay cache.

Both halves use it: the authorization server binds tokens to the key of the proof
sent to ``token/`` (``cnf.jkt``), and :class:`~oauth_middleware.OAuthMiddleware`
accepts a bound token only with a fresh proof made with that key. See
docs/guides/dpop.md.
"""

from oauth_middleware.dpop.checker import ProofChecker, single_proof
from oauth_middleware.dpop.proof import MAX_PROOF_SIZE, Proof, ath, verify

__all__ = ["MAX_PROOF_SIZE", "Proof", "ProofChecker", "ath", "single_proof", "verify"]
