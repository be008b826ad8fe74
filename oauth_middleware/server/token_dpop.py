"""DPoP at the token endpoint (RFC 9449 §5, §8): the key a token request binds tokens to.

A token request may carry one ``DPoP`` proof for ``POST`` to this server's
``token/`` URL (built from the issuer, never from the Host header). Its key's
thumbprint becomes the issued access token's ``cnf.jkt`` (and a public client's
refresh token's, §5); the answer's ``token_type`` is then ``DPoP``. A client
registered with ``require_dpop`` gets nothing without one (§5.2). With
``dpop_nonce`` the server demands its current nonce (§8): ``use_dpop_nonce`` with
the nonce in ``DPoP-Nonce``, which every answer of ``token/`` also carries.
"""

from __future__ import annotations

from importlib.util import find_spec

from starlette.requests import Request

from oauth_middleware.dpop.checker import ProofChecker, single_proof
from oauth_middleware.errors import InvalidDPoPProof
from oauth_middleware.models import Client
from oauth_middleware.server.config import ServerConfig


class TokenProofs:
    """Judges the ``DPoP`` header of token requests for one server."""

    def __init__(self, config: ServerConfig) -> None:
        self.url = config.url("token/")
        self.checker = ProofChecker(config.store, nonce_period=config.dpop_nonce)
        #: Proofs are JWTs: without the ``jwt`` extra, a proof is refused, never a 500.
        self.supported = find_spec("joserfc") is not None

    async def key_of(self, request: Request, client: Client) -> str:
        """The thumbprint the request's tokens are bound to; "" for bearer tokens."""
        proof = single_proof(request.scope["headers"])
        if proof is None:
            if client.require_dpop:
                raise InvalidDPoPProof("This client must send a DPoP proof.")
            return ""
        if not self.supported:
            raise InvalidDPoPProof("This server does not accept DPoP proofs.")
        checked = await self.checker.check(proof, method="POST", url=self.url)
        return checked.jkt

    async def headers(self) -> dict[str, str]:
        """``DPoP-Nonce`` for the answer while nonces are on (RFC 9449 §8.2)."""
        nonce = await self.checker.current_nonce()
        return {} if nonce is None else {"DPoP-Nonce": nonce}
