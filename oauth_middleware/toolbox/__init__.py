"""Management calls shared by the app, the CLI and the admin (oauthost's ``toolbox``, RFC 6749 §2).

Every rule that decides what a client may have (scopes, redirect URIs, grant
types, lifetimes) lives in this package or, where the authorization server applies
it too, in :mod:`oauth_middleware.policy`, so no caller can skip one.
"""

from oauth_middleware.limits import MAX_LIFETIME
from oauth_middleware.policy import grantable_scopes, validate_client_id
from oauth_middleware.toolbox.clients import (
    KEEP,
    ClientChanged,
    ClientExists,
    RegisteredClient,
    UnknownClient,
    ensure_scopes,
    register_client,
    remove_client,
    require_client,
    rotate_secret,
    update_client,
)
from oauth_middleware.toolbox.grants import IssuedCode, issue_code, issue_token
from oauth_middleware.toolbox.provisioning import (
    EnsuredClient,
    ProvisioningConflict,
    ensure_client,
)
from oauth_middleware.toolbox.redirect_uris import add_redirect_uri, remove_redirect_uri
from oauth_middleware.toolbox.revocation import revoke_access_token, revoke_client_tokens
from oauth_middleware.toolbox.rules import (
    MAX_TEXT,
    MAX_TITLE,
    needs_redirect_uri,
    parse_lifetime,
    parse_token_lifetime,
    scope_title,
)

__all__ = [
    "KEEP",
    "MAX_LIFETIME",
    "MAX_TEXT",
    "MAX_TITLE",
    "ClientChanged",
    "ClientExists",
    "EnsuredClient",
    "IssuedCode",
    "ProvisioningConflict",
    "RegisteredClient",
    "UnknownClient",
    "add_redirect_uri",
    "ensure_client",
    "ensure_scopes",
    "grantable_scopes",
    "issue_code",
    "issue_token",
    "needs_redirect_uri",
    "parse_lifetime",
    "parse_token_lifetime",
    "register_client",
    "remove_client",
    "remove_redirect_uri",
    "require_client",
    "revoke_access_token",
    "revoke_client_tokens",
    "rotate_secret",
    "scope_title",
    "update_client",
    "validate_client_id",
]
