"""Which refresh token a presented value is: current, rotated away, or unknown (RFC 9700 §4.14.2).

A grant keeps one refresh record (``rt:{g}``, schema 1, see :mod:`.keys`) that
names its current token by digest. Every refresh token the grant issued carries
a seal of the grant's key, so a token that is sealed but not current is an
earlier generation of the grant: presenting it again is a replay, and revoking
it ends the grant. A value that merely starts with a real grant id (grant ids
are public) is neither, and is unknown. Schema-0 records (one per token) are
read as they were stored.
"""

from __future__ import annotations

from dataclasses import replace

from oauth_middleware.models import AccessToken, RefreshToken
from oauth_middleware.security import FINGERPRINT_CHARS, constant_time_equals, digest, sealed_by
from oauth_middleware.store._codec import RecordError, load
from oauth_middleware.store.keys import Keys


def refresh_keys(keys: Keys, grant_id: str, token: str) -> tuple[str, str]:
    """What to read for a presented refresh token: its grant's record, its schema-0 record."""
    return keys.refresh(grant_id), keys.legacy_refresh(grant_id, digest(token))


def presented_refresh(
    token: str, current: bytes | str | None, legacy: bytes | str | None, now: float
) -> RefreshToken | None:
    """The record ``token`` stands for, read from the values at :func:`refresh_keys`.

    The grant's record when ``token`` is its current refresh token; that record
    marked ``rotated`` (with the token's own fingerprint) when ``token`` is an
    earlier generation; a schema-0 record as stored; None when unknown or expired.
    A record this version cannot read (:class:`.codec.RecordError`) stands for no token:
    refused like an unknown one, never a 500. A grant record without a current digest
    (a newer version's) names no rotated token either: a replay needs a digest that differs.
    """
    try:
        record = _presented(token, current, legacy)
    except RecordError:
        return None
    if record is None or (record.expires_at is not None and record.expires_at <= now):
        return None
    return record


def _presented(
    token: str, current: bytes | str | None, legacy: bytes | str | None
) -> RefreshToken | None:
    if legacy is not None:
        return load(RefreshToken, legacy)
    if current is None:
        return None
    grant = load(RefreshToken, current)
    if not grant.digest:
        return None
    sha = digest(token)
    if constant_time_equals(sha, grant.digest):
        return grant
    if sealed_by(token, grant.seal_key):
        return replace(grant, rotated=True, fingerprint=sha[:FINGERPRINT_CHARS])
    return None


def live_token(
    access: bytes | str | None, refresh: RefreshToken | None, now: float
) -> AccessToken | RefreshToken | None:
    """The record a token names: a live access token's, else its refresh record as
    :func:`presented_refresh` read it, rotated-away ones included (revoking one ends its
    grant, RFC 7009 §2.1; introspection calls it inactive)."""
    if access is not None:
        record = load(AccessToken, access)
        return None if record.is_expired(now) else record
    return refresh
