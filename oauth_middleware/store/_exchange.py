"""Exchanged grants and their chains (RFC 8693 §2.1, §4.1): linked to their parent, revoked with it.

A token exchanged from one of ours starts a grant of its own (its client, its subject's
indexes), and that grant is linked into ``children:{p}``, a sorted set in the parent
grant's slot (grant id -> expiry, ms by Redis's clock). Linking is one script that first
checks the subject token itself still exists: a child is issued, then linked, and only a
linked child's value leaves the store, so

- a revocation that deleted the subject token before the link makes the link fail, and the
  child (whose value nobody has seen) is revoked at once;
- a revocation after the link finds the child in ``children:{p}``.

Revoking a grant (or one access token of it) reads its ``children`` set in the same round
trip, then revokes those grants (and drops them from the set) level by level before the
call returns: at most ``MAX_EXCHANGE_DEPTH`` levels of at most ``EXCHANGED_PER_GRANT``
live children each, one round trip per level (none when nothing was exchanged). Grants of
other slots are never touched by one script, so chains work on Redis Cluster too.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from oauth_middleware.limits import EXCHANGED_PER_GRANT, MAX_EXCHANGE_DEPTH
from oauth_middleware.store import _grant_scripts as scripts
from oauth_middleware.store._cascade import Taken, gone_of
from oauth_middleware.store._context import Context
from oauth_middleware.store._gateway import Command, Script, evalsha, texts
from oauth_middleware.store.keys import NEVER_MS

if TYPE_CHECKING:  # the sweeper owns the chains: imported for typing only
    from oauth_middleware.store._sweep import Sweeper

#: KEYS: the subject access token, the parent's children set; ARGV: child grant id, child
#: TTL (ms, 0 = never), "never" (ms), most live children. Returns 1 (linked), 0 (the
#: subject token is gone: revoked or expired) or -1 (the parent has too many children).
LINK_CHILD = Script("""
if redis.call('EXISTS', KEYS[1]) == 0 then
  return 0
end
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
if redis.call('ZSCORE', KEYS[2], ARGV[1]) then
  return 1
end
if redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[4]) then
  return -1
end
local ttl = tonumber(ARGV[2])
local score = now + ttl
if ttl == 0 then
  score = tonumber(ARGV[3])
end
redis.call('ZADD', KEYS[2], score, ARGV[1])
local last = tonumber(redis.call('ZRANGE', KEYS[2], -1, -1, 'WITHSCORES')[2])
if last >= tonumber(ARGV[3]) then
  redis.call('PERSIST', KEYS[2])
else
  redis.call('PEXPIREAT', KEYS[2], string.format('%d', last))
end
return 1
""")

class ChainFull(Exception):
    """The parent grant has ``EXCHANGED_PER_GRANT`` live exchanged grants already."""


class Chains:
    """Links exchanged grants to their parents and revokes whole chains."""

    def __init__(self, ctx: Context, sweeper: Sweeper) -> None:
        self._gateway = ctx.gateway
        self._keys = ctx.keys
        self._sweeper = sweeper

    def link(self, parent: str, subject_sha: str, ttl_ms: int) -> Callable[[str], Command]:
        """The command that links a child grant under ``parent`` while the subject token
        (``subject_sha``) lives, for the child's id: sent right after the child is issued,
        in the same pipeline (``Grants.issue_then``); :meth:`linked` reads its reply.
        Resending it is harmless: a child linked already stays linked."""
        keys = [self._keys.access(parent, subject_sha), self._keys.children(parent)]
        return lambda child: evalsha(LINK_CHILD, keys,
                                     [child, ttl_ms, NEVER_MS, EXCHANGED_PER_GRANT])

    @staticmethod
    def linked(reply: Any, parent: str) -> bool:
        """False when the subject token was gone; :class:`ChainFull` when the parent had
        too many children."""
        if int(reply) < 0:
            raise ChainFull(parent)
        return int(reply) == 1

    def take(self, grant_ids: list[str]) -> list[Command]:
        """The commands that read each grant's children: sent in the same pipeline as, and
        after, the revocation of those grants (or of a token of theirs), so a link that
        comes later finds its subject token gone and fails. A plain read, safe to resend
        (the gateway resends a pipeline whose script Redis had not loaded)."""
        return [("ZRANGE", self._keys.children(g), 0, -1) for g in grant_ids]

    async def revoke_descendants(self, parents: list[str], taken: list[Any],
                                 why: Taken | None = None) -> int:
        """Revoke the children :meth:`take` read of ``parents`` (in order), and theirs,
        transitively, dropping each from its parent's set once revoked; returns keys
        deleted. One round trip per level, at most ``MAX_EXCHANGE_DEPTH`` levels. ``why``:
        each grant revoked is recorded as gone with another change (:mod:`._cascade`)."""
        deleted, children = 0, [texts(reply) for reply in taken]
        for _ in range(MAX_EXCHANGE_DEPTH):
            level = list(dict.fromkeys(g for ids in children for g in ids))
            if not level:
                break
            done = [("ZREM", self._keys.children(parent), *ids)
                    for parent, ids in zip(parents, children, strict=True) if ids]
            swept, taken = await self._sweep(level, done, why)
            deleted += swept
            parents, children = level, [texts(reply) for reply in taken]
        return deleted

    async def _sweep(self, grant_ids: list[str], done: list[Command], why: Taken | None
                     ) -> tuple[int, list[Any]]:
        """``SWEEP_GRANT`` each grant (which reads its children, and on one server appends
        its cascade event), run ``done``, and drop each grant from its client's and
        subject's indexes; returns keys deleted and the children."""
        n = len(grant_ids)
        commands = [self._sweeper.command(g, why=why) for g in grant_ids]
        cascades = self._sweeper.cascades
        replies = await self._sweeper.swept(
            [*commands, *done], grant_ids, why=why,
            loads=(scripts.SWEEP_GRANT_CASCADED,) if cascades.in_script(why) else ())
        await cascades.after(why, gone_of(grant_ids, replies[:n]))
        unindex: dict[str, list[str]] = {}
        deleted, taken = 0, []
        for grant_id, (client_id, subject, subject_type, keys, children) in zip(
                grant_ids, replies[:n], strict=True):
            self._gateway.forget_all(keys)
            deleted += len(keys)
            taken.append(children)
            client_id, subject, subject_type = texts([client_id, subject, subject_type])
            if client_id:
                for index in self._sweeper.indexes(client_id, subject, subject_type,
                                                   displaced=False):
                    unindex.setdefault(index, []).append(grant_id)
        if unindex:
            await self._gateway.run([("ZREM", key, *ids) for key, ids in unindex.items()])
        return deleted, taken
