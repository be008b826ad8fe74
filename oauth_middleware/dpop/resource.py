"""DPoP at a protected resource (RFC 9449 §7): a bound token only with a proof of its key.

:class:`ResourceProofs` is what :class:`~oauth_middleware.OAuthMiddleware` calls once a
token resolved, when the token is bound (``cnf.jkt``) or came with the ``DPoP``
scheme. The decisions (§7.1, §7.2):

- a bound token sent as ``Bearer`` (header, form or query) is refused: whoever holds
  it without the key is who DPoP keeps out;
- a bearer token sent with the ``DPoP`` scheme is refused too: there is no key to
  check the proof against, and accepting it would let a client believe its token is
  bound when it is not;
- otherwise the one ``DPoP`` header must be a valid proof for this method and URL,
  hash the presented token (``ath``), be made with the token's key and be new.

``htu`` is checked against ``public_url`` (where clients reach the app: scheme, host,
port, and the path prefix a proxy in front strips, if any; else the resource
identifier's origin) plus the path as sent: never a Host or forwarded header, which a
client chooses.
Refusals are 401 with a ``DPoP`` challenge naming the accepted ``algs``.

Two options go further. ``nonce_period`` (seconds) demands a server nonce in every
proof (§9): a proof without the current (or the previous) nonce is refused with
``use_dpop_nonce`` and the current one in ``DPoP-Nonce``, before its ``jti`` is spent.
The nonces are the store's, rotated per window exactly as the authorization server's,
so every worker accepts what any of them sent. ``required`` refuses tokens that are not
DPoP-bound at all: what RFC 9728 metadata announces as ``dpop_bound_access_tokens_required``.
"""

from __future__ import annotations

import logging

from starlette.types import Scope

from oauth_middleware.dpop.checker import ProofChecker, single_proof
from oauth_middleware.dpop.htu import normalised, origin
from oauth_middleware.errors import (
    DPOP_ALGS,
    DPoPInvalidToken,
    DPoPNonceRefused,
    DPoPRefused,
    InvalidDPoPProof,
    UseDPoPNonce,
)
from oauth_middleware.extraction import Credential
from oauth_middleware.models import AccessToken
from oauth_middleware.store import TokenStore

logger = logging.getLogger("oauth_middleware.middleware")


class ResourceProofs:
    """Proof checks for one middleware; ``store`` keeps the replay cache (None: refused)."""

    def __init__(self, store: TokenStore | None, public_url: str | None, *,
                 nonce_period: int | None = None, required: bool = False) -> None:
        self.origin = None if public_url is None else normalised(public_url).rstrip("/")
        self.checker = None if store is None else ProofChecker(store, nonce_period=nonce_period)
        self.required = required

    def metadata(self) -> dict[str, object]:
        """What RFC 9728 §2 lets the resource say of DPoP: the proof algorithms it takes
        (when it takes proofs at all) and whether it takes only bound tokens."""
        doc: dict[str, object] = {}
        if self.origin is not None and self.checker is not None:
            doc["dpop_signing_alg_values_supported"] = list(DPOP_ALGS)
        if self.required:
            doc["dpop_bound_access_tokens_required"] = True
        return doc

    async def check(self, scope: Scope, credential: Credential, token: AccessToken) -> None:
        """Nothing for a bearer token sent as one; else the verdict of the module docstring."""
        if self.required and not token.jkt:
            raise DPoPInvalidToken("This resource takes only DPoP-bound access tokens.")
        if not credential.dpop:
            raise DPoPInvalidToken("The access token is DPoP-bound: send it with the DPoP "
                                   "scheme and a proof.")
        if not token.jkt:
            raise DPoPInvalidToken("The access token is not DPoP-bound: send it as a Bearer "
                                   "token.")
        if self.origin is None or self.checker is None:
            logger.warning("DPoP refused: the middleware needs public_url= (or resource=) "
                           "and a store for the replay cache")
            raise DPoPRefused("This resource does not accept DPoP proofs.")
        try:
            proof = single_proof(scope["headers"])
            if proof is None:
                raise InvalidDPoPProof("A DPoP proof is required.")
            await self.checker.check(proof, method=scope.get("method", "GET"),
                                     url=self.origin + _path(scope),
                                     access_token=credential.token, jkt=token.jkt)
        except InvalidDPoPProof as exc:
            raise DPoPRefused(exc.description) from None
        except UseDPoPNonce as exc:
            raise DPoPNonceRefused(exc.nonce) from None


def base_url(public_url: str | None, resource_identifier: str | None) -> str | None:
    """What ``htu`` starts with: ``public_url`` as given, else the resource's origin."""
    if public_url is not None:
        return public_url
    return None if resource_identifier is None else origin(resource_identifier)


def _path(scope: Scope) -> str:
    """The path as sent (``raw_path``, percent-encodings kept), without the query."""
    raw = scope.get("raw_path")
    if raw:
        return bytes(raw).split(b"?", 1)[0].decode("latin-1")
    return str(scope["path"])
