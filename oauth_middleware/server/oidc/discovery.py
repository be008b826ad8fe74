"""OpenID Provider metadata (OpenID Connect Discovery 1.0 §3-4).

Served at ``{issuer}/.well-known/openid-configuration`` — the issuer's own path with
the suffix appended (§4), unlike RFC 8414's inserted prefix — and merged into the
RFC 8414 document, so both say the same. ``request_uri_parameter_supported`` is
spelled out as false: Discovery's default for it is true.
"""

from __future__ import annotations

from oauth_middleware.server.config import ServerConfig
from oauth_middleware.server.oidc.claims import SUPPORTED_CLAIMS
from oauth_middleware.server.oidc.request import PROMPTS

PATH = "/.well-known/openid-configuration"


def openid_members(config: ServerConfig) -> dict[str, object]:
    """The members an OpenID Provider adds to its metadata; none for a plain OAuth server."""
    provider, keys = config.openid, config.signing_keys
    if provider is None or keys is None:
        return {}
    return {
        "userinfo_endpoint": config.url("userinfo/"),
        "subject_types_supported": [provider.subject_type],
        "id_token_signing_alg_values_supported": list(keys.algorithms),
        "claims_supported": list(SUPPORTED_CLAIMS),
        "claims_parameter_supported": True,
        "request_parameter_supported": False,
        "request_uri_parameter_supported": False,
        "prompt_values_supported": sorted(PROMPTS),
    }
