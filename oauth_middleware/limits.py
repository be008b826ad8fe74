"""Lifetimes and limits: every default and bound on how long state lives and how much of it
there is (RFC 6749 §4.1.2, §10.5; RFC 9700 §4.14; SECURITY.md "bounded collections").

One module, imported by the store (which enforces them), the authorization server,
the toolbox, the CLI and the admin (which offer them as settings), so no two
places disagree on a default. It imports nothing of the project.
"""

from __future__ import annotations

# --- lifetimes, in seconds ------------------------------------------------------------------

#: An access token unless the client or caller says otherwise.
ACCESS_LIFETIME = 3600
#: An authorization code (RFC 6749 §4.1.2: at most 10 minutes; shorter is better).
CODE_LIFETIME = 120
MAX_CODE_LIFETIME = 600
#: A refresh token unless the caller says otherwise (30 days, sliding: see ``store.keys``).
REFRESH_LIFETIME = 30 * 24 * 3600
#: Longest lifetime of a token, ten years; ``None`` is the way to say "never".
#: Longer ones are refused, not shortened: 10**20 seconds is a typo, and its expiry in
#: milliseconds is past what Redis accepts for PX and PEXPIREAT, so writing it would fail
#: every later grant of the same user or client index.
MAX_LIFETIME = 10 * 365 * 24 * 3600
#: A user has this long to decide on a consent page.
PENDING_LIFETIME = 600
#: A taken consent transaction stays this long as a tombstone, so a resent take by the
#: same attempt (a lost reply) still finds its record.
TAKEN_LIFETIME = 60

#: A device code and its user code (RFC 8628 §3.2 ``expires_in``).
DEVICE_CODE_LIFETIME = 600
#: Seconds a device waits between polls (RFC 8628 §3.2 ``interval``), and what each
#: ``slow_down`` adds to it (§3.5).
DEVICE_INTERVAL = 5
DEVICE_SLOW_DOWN = 5
#: A device code's record outlives its expiry this long, so a late poll is told
#: ``expired_token`` rather than ``invalid_grant``.
DEVICE_EXPIRED_GRACE = 600
#: A pushed authorization request's ``request_uri`` (RFC 9126 §2.2: short; at most 10 min).
PAR_LIFETIME = 60
MAX_PAR_LIFETIME = 600

# --- bounds on collections ------------------------------------------------------------------

#: Consent transactions one user may have waiting; storing one more drops their oldest,
#: so a loop of ``GET auth/`` cannot fill Redis (``AuthorizationServer(max_pending_consents=)``).
MAX_PENDING = 20
#: Pushed authorization requests one client may have waiting; pushing one more drops its
#: oldest, so nobody holding a public client's id can fill Redis through ``par/``
#: (``AuthorizationServer(max_pushed_requests=)``).
MAX_PUSHED = 1000
#: Clients whose consent one user's remembered consents hold at most; remembering one more
#: forgets the entry that expires first (``AuthorizationServer(max_remembered_consents=)``).
REMEMBERED_CONSENTS = 100
#: Longest a consent may be remembered (``AuthorizationServer(remember_consent=)``): 400 days,
#: the longest browsers keep a cookie, so no remembered consent outlives every login.
MAX_REMEMBER_CONSENT = 400 * 24 * 3600
#: Device codes one client may have waiting; one more drops its oldest, so a loop of
#: device authorization requests cannot fill Redis.
DEVICE_CODES_PER_CLIENT = 1000
#: Live grants one user keeps by default: every device and app of one person, each grant
#: living 30 days past its last refresh, with room to spare. One more revokes the grant
#: that expires first (for refresh grants, the one refreshed longest ago).
GRANTS_PER_USER = 100
#: Live grants one client keeps by default as itself (client credentials): a fleet of
#: instances, each with a token or two; a client minting one per request loses its oldest.
GRANTS_PER_CLIENT = 1000
#: Largest cap either setting accepts.
MAX_GRANTS = 100_000
#: Access tokens a grant keeps alive at most: a rotation beyond that revokes the ones
#: closest to expiry, so no refresh loop grows a grant.
GRANT_ACCESS_TOKENS = 8
#: Grants a new one displaces at most: one for itself, one more to shrink an index that is
#: over the cap (written before it, or by a store configured with a larger one), so one
#: script's work stays small however far over an index is.
ISSUE_EVICTIONS = 2
#: Displaced grants, swept already, that one process leaves in their client's index for
#: that client's next issue to drop (on a cluster, ``store._sweep``): what it holds in
#: memory meanwhile, and what one ``INDEXES`` script removes at most. Past it, a sweep
#: drops its entries at once, in a round trip of its own.
DEFERRED_UNINDEX = 256
#: Grants revoked per round trip when a user's or a client's grants all go.
REVOKE_BATCH = 500
#: Grants one person's connected-apps page lists at most (latest expiry first): one page
#: read in three round trips, whatever ``max_grants_per_user`` allows.
CONNECTED_SHOWN = 500
#: Token exchanges (RFC 8693) in one chain at most: a token exchanged from one that was
#: itself exchanged counts one more. With the fan-out below it bounds what revoking one
#: grant sweeps: at most ``EXCHANGED_PER_GRANT ** MAX_EXCHANGE_DEPTH`` descendant grants.
MAX_EXCHANGE_DEPTH = 3
#: Live grants exchanged from one grant at most; past that an exchange is refused until
#: some expire (the ``children:{g}`` set of that grant stays bounded).
EXCHANGED_PER_GRANT = 64
#: Redirect URIs and scopes one client may list: every authorization and token request
#: reads the whole client record, and a token of the client may carry all of its scopes.
MAX_REDIRECT_URIS = 100
MAX_CLIENT_SCOPES = 200
#: Clients whose last scope needs the store remembers (to read them along next time);
#: the memo is emptied when full.
SCOPE_HINTS = 4096


def check_lifetime(seconds: float | None, what: str) -> None:
    """``ValueError`` unless ``seconds`` is None (never) or 0 < seconds <= MAX_LIFETIME."""
    if seconds is not None and not 0 < seconds <= MAX_LIFETIME:
        raise ValueError(f"{what} must be a positive number of seconds up to {MAX_LIFETIME} "
                         "(ten years), or None for never")


def check_code_lifetime(seconds: int) -> None:
    """``ValueError`` unless 0 < ``seconds`` <= MAX_CODE_LIFETIME (RFC 6749 §4.1.2)."""
    if not 0 < seconds <= MAX_CODE_LIFETIME:
        raise ValueError(f"an authorization code lifetime must be 1 to {MAX_CODE_LIFETIME} "
                         "seconds")


def check_grant_cap(value: int, name: str, default: int) -> None:
    """``ValueError`` unless ``value`` is a whole number from 1 to :data:`MAX_GRANTS`."""
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_GRANTS:
        raise ValueError(f"{name} must be a whole number of live grants from 1 to "
                         f"{MAX_GRANTS}, e.g. {name}={default}")
