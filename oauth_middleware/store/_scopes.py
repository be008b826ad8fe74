"""The scope registry (RFC 6749 §3.3): every scope's title and status, in one hash."""

from __future__ import annotations

from collections.abc import Iterable

from oauth_middleware.models import Scope
from oauth_middleware.store._authn import ScopeHints, ScopeSnapshot
from oauth_middleware.store._codec import dump, load
from oauth_middleware.store._context import Context
from oauth_middleware.store._gateway import pairs


class Scopes:
    """Registered scopes, by identifier."""

    def __init__(self, ctx: Context, hints: ScopeHints) -> None:
        self._gateway = ctx.gateway
        self._key = ctx.keys.scopes
        self._hints = hints

    async def save_scope(self, scope: Scope) -> None:
        await self._write(("HSET", self._key, scope.identifier, dump(scope)))

    async def create_scope(self, scope: Scope) -> bool:
        """Register a scope unless one with its identifier exists (HSETNX: races lose cleanly)."""
        return bool(await self._write(("HSETNX", self._key, scope.identifier, dump(scope))))

    async def delete_scope(self, identifier: str) -> bool:
        return bool(await self._write(("HDEL", self._key, identifier)))

    async def _write(self, command: tuple[str, ...]) -> object:
        try:
            reply = await self._gateway.one(command)
        finally:
            self._gateway.forget(self._key)
        await self._gateway.settled()
        return reply

    async def get_scopes(
        self, identifiers: Iterable[str], *, snapshot: ScopeSnapshot | None = None
    ) -> dict[str, Scope]:
        """The registered scopes among ``identifiers`` (unknown ones are absent).

        ``snapshot``: scopes this request read already (:mod:`._authn`); when it
        covers every identifier nothing is read again, else the store notes what
        the snapshot's client needed, to read it along with its next request.
        """
        wanted = list(dict.fromkeys(identifiers))
        if not wanted:
            return {}
        if snapshot is not None:
            if snapshot.covers(wanted):
                return snapshot.pick(wanted)
            if snapshot.client_id:
                self._hints.note(snapshot.client_id, frozenset(wanted))
        raws = await self._gateway.one(("HMGET", self._key, *wanted))
        return {sid: load(Scope, raw) for sid, raw in zip(wanted, raws, strict=True) if raw}

    async def list_scopes(self) -> list[Scope]:
        raws = pairs(await self._gateway.one(("HGETALL", self._key)))
        return sorted((load(Scope, raw) for raw in raws.values()), key=lambda s: s.identifier)
