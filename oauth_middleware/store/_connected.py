"""A person's own grants: listed and revoked for their connected-apps page (RFC 7009 §2.1).

Listing reads the user's grant index (``idx:user``, capped by ``max_grants_per_user``;
at most :data:`~oauth_middleware.limits.CONNECTED_SHOWN` grants, latest expiry first),
then each grant's members and records: single-key commands the gateway routes per node.
A grant is listed only when every live record of it names this user as a *user*: the
index is the user's digest's, and a client acting for itself is indexed elsewhere
(``idx:own``), but the records decide.

Revoking never trusts the grant id or client id a person posted: each grant is swept by
``SWEEP_OWNED``, which checks whose it is in the grant's own slot (see
``Revocation.revoke_owned``).
"""

from __future__ import annotations

import re

from oauth_middleware.limits import CONNECTED_SHOWN, REVOKE_BATCH
from oauth_middleware.models import AccessToken, AuthorizationCode, RefreshToken, UserGrant
from oauth_middleware.store._codec import RecordError, load
from oauth_middleware.store._context import Context
from oauth_middleware.store._events import Cascade
from oauth_middleware.store._gateway import texts
from oauth_middleware.store._remembered import Remembered
from oauth_middleware.store._revocation import Revocation

#: What a grant id looks like (``security.new_grant_id``): anything else names no grant,
#: and must not reach a key (a brace would change its hash tag).
GRANT_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
_Record = AccessToken | RefreshToken | AuthorizationCode


class Connected:
    """The grants of one person, as that person may see and end them."""

    def __init__(self, ctx: Context, revocation: Revocation, remembered: Remembered) -> None:
        self._ctx = ctx
        self._gateway = ctx.gateway
        self._keys = ctx.keys
        self._revocation = revocation
        self._remembered = remembered

    async def grants(self, user: str) -> list[UserGrant]:
        """``user``'s live grants, latest expiry first (at most ``CONNECTED_SHOWN``)."""
        k = self._keys
        grant_ids = texts(await self._gateway.one(
            ("ZREVRANGE", k.user_index(user), 0, CONNECTED_SHOWN - 1)))
        if not grant_ids:
            return []
        member_sets = await self._gateway.run([("SMEMBERS", k.members(g)) for g in grant_ids])
        members = [(g, key) for g, found in zip(grant_ids, member_sets, strict=True)
                   for key in texts(found)]
        raws = await self._gateway.run([("GET", key) for _, key in members]) if members else []
        records: dict[str, list[_Record]] = {}
        for (grant_id, key), raw in zip(members, raws, strict=True):
            record = self._record(key, raw)
            if record is not None and record.grant_id == grant_id:
                records.setdefault(grant_id, []).append(record)
        found = (_summary(user, g, records.get(g, [])) for g in grant_ids)
        return [grant for grant in found if grant is not None]

    async def revoke(self, user: str, grant_id: str, cascade: Cascade | None = None) -> bool:
        """Revoke one grant of ``user``'s; False (nothing done) for anyone else's or none.
        ``cascade`` records the grants exchanged from it (``Revocation.revoke_owned``)."""
        if not GRANT_ID.fullmatch(grant_id):
            return False
        return bool(await self._revocation.revoke_owned(user, [grant_id], cascade=cascade))

    async def revoke_client(self, user: str, client_id: str, cascade: Cascade | None = None
                            ) -> tuple[int, int]:
        """Everything of one client for ``user``: the consent remembered for it first (so
        nothing is granted again unasked), then every grant of theirs with it, one ZSCAN
        page of their index per round trip. Returns (grants revoked, consents forgotten)."""
        forgotten = await self._remembered.forget(user, client_id)
        index = self._keys.user_index(user)
        # the grants the cap displaced too, in case their issuer died before revoking them
        revoked = 0
        for key in (self._keys.displaced(index), index):
            revoked += await self._revoke_index(key, user, client_id, cascade)
        return revoked, forgotten

    async def _revoke_index(self, index: str, user: str, client_id: str,
                            cascade: Cascade | None) -> int:
        cursor, revoked = 0, 0
        while True:
            cursor_raw, flat = await self._gateway.one(
                ("ZSCAN", index, cursor, "COUNT", REVOKE_BATCH))
            cursor = int(cursor_raw)
            batch = list(dict.fromkeys(texts(flat[::2])))
            if batch:
                revoked += len(await self._revocation.revoke_owned(user, batch, client_id,
                                                                   cascade))
            if not cursor:
                return revoked

    def _record(self, key: str, raw: bytes | None) -> _Record | None:
        """The live record a member key holds; None for anything else."""
        name = key[len(self._keys.prefix):]
        kind: type[_Record] = (AccessToken if name.startswith("at:") else
                               RefreshToken if name.startswith("rt:") else AuthorizationCode)
        if raw is None or not name.startswith(("at:", "rt:", "code:")):
            return None
        try:
            record = load(kind, raw)
        except RecordError:
            return None
        if isinstance(record, RefreshToken) and record.rotated:
            return None
        if isinstance(record, AuthorizationCode) and record.used:
            return None
        expires = record.expires_at
        return None if expires is not None and expires <= self._ctx.clock() else record


def _summary(user: str, grant_id: str, records: list[_Record]) -> UserGrant | None:
    """The grant as its records tell it; None unless each one is ``user``'s, as a user, of
    one client (anything else is not this person's to see)."""
    if not records or len({r.client_id for r in records}) != 1:
        return None
    for record in records:
        kind = getattr(record, "subject_type", "user")
        if record.subject != user or kind != "user":
            return None
    issued = sorted(r.issued_at for r in records)
    expiries = [r.expires_at for r in records]
    access = sorted((r for r in records if isinstance(r, AccessToken)), key=lambda r: r.issued_at)
    return UserGrant(
        grant_id=grant_id, client_id=records[0].client_id, user=user,
        scopes=frozenset().union(*(r.scopes for r in records)),
        granted_at=issued[0], last_used=issued[-1],
        expires_at=None if None in expiries else max(e for e in expiries if e is not None),
        access_tokens=tuple(r.fingerprint for r in access),
        refresh=any(isinstance(r, RefreshToken) for r in records),
        pending=all(isinstance(r, AuthorizationCode) for r in records))
