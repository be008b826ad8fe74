"""Revoking grants found in an index: one script per grant, then the index entries (RFC 7009).

A grant's keys carry its own hash tag and each index the tag of its client or subject,
so on a Redis Cluster they sit on different nodes: each grant goes by its own script
(``SWEEP_GRANT``, one slot), and only once it is gone do its index entries go, so an
interrupted sweep leaves nothing alive that an index has forgotten. A sweep is safe to
repeat: what is gone stays gone, and a grant write that arrives after the sweep finds
the grant's tombstone and is refused (``_grant_scripts.WRITE_GRANT``).

A client's own grants displaced by its cap on a cluster (``_grants``) are the exception to
"then the index entries" in one respect: their ``ZREM`` from the client's index is not a
round trip of its own but rides in the next issue of that client's, inside ``INDEXES``
(same slot), which the issue sends anyway (:meth:`Sweeper.unindexed`). The entry of a
grant already swept is harmless meanwhile: a sweep of the index revokes nothing more by
it (it is idempotent), listing finds no record under it, and its score prunes it once
its grant would have expired. A process that ends first leaves such entries to those.
"""

from __future__ import annotations

from typing import Any

from oauth_middleware.limits import DEFERRED_UNINDEX
from oauth_middleware.store import _grant_scripts as scripts
from oauth_middleware.store._cascade import Cascades, Taken, gone_of
from oauth_middleware.store._context import Context
from oauth_middleware.store._exchange import Chains
from oauth_middleware.store._gateway import Command, Script, StoreNotDurable, evalsha, texts


class Sweeper:
    """Revokes grants by id and drops them from every index that names them."""

    def __init__(self, ctx: Context) -> None:
        self._gateway = ctx.gateway
        self._keys = ctx.keys
        #: The events of grants that go with another change (:mod:`._cascade`).
        self.cascades = Cascades(ctx)
        #: Grants exchanged from a swept one go with it (RFC 8693, :mod:`._exchange`).
        self.chains = Chains(ctx, self)
        #: Index key -> ids swept but still in it, for the next issue to drop (``later``).
        self._unindex_later: dict[str, list[str]] = {}

    def unindexed(self, index_key: str) -> list[str]:
        """The grant ids a sweep with ``later`` left in ``index_key`` (swept: their keys are
        gone), forgotten here: the caller's next script of that index's slot drops them."""
        return self._unindex_later.pop(index_key, [])

    def command(self, grant_id: str, event: tuple[Script, list[str]] | None = None,
                why: Taken | None = None) -> Command:
        """The script that revokes ``grant_id``, leaves its tombstone and reads the grants
        exchanged from it (its reply's last element); with ``event`` (a form of
        ``SWEEP_GRANT_EVENTED`` and its event's arguments, on one server) it appends that
        event too; on one server, with ``why`` (a grant that goes with another change), the
        grant's cascade event (:mod:`._cascade`)."""
        k = self._keys
        keys = [k.members(grant_id), k.gone(grant_id), k.children(grant_id)]
        if event is not None:
            script, args = event
            return evalsha(script, [*keys, k.events], [scripts.TOMBSTONE_MS, *args])
        if why is not None and self.cascades.in_script(why):
            stream, args = self.cascades.parts(why, grant_id)
            return evalsha(scripts.SWEEP_GRANT_CASCADED, [*keys, *stream],
                           [scripts.TOMBSTONE_MS, *args])
        return evalsha(scripts.SWEEP_GRANT, keys,
                       [scripts.TOMBSTONE_MS])

    def indexes(self, client_id: str, subject: str, subject_type: str, *,
                displaced: bool = True) -> list[str]:
        """Every index a grant of this owner may be in: its client's, its subject's, and
        (``displaced``) the subject's displaced set. A sweep of many grants leaves the
        displaced sets be: one ZREM per user would double its round trip, and an entry
        left there names a grant already gone (a later sweep of it deletes nothing, and
        the set expires with its latest entry)."""
        subject_index = self._keys.subject_index(subject, subject_type)
        found = {self._keys.client_index(client_id), subject_index}
        if displaced:
            found.add(self._keys.displaced(subject_index))
        return sorted(found)

    async def sweep(self, index_key: str, grant_ids: list[str], *, durable: bool = True,
                    displaced: bool = False, why: Taken | None = None,
                    exchanged: Taken | None = None, later: bool = False) -> int:
        """Revoke ``grant_ids`` in one round trip, then drop them from ``index_key`` and from
        the other indexes each was in (its client's or its user's), so revoking a user's
        grants leaves no dead entry in their clients' indexes, nor the reverse. The local
        cache drops the deleted keys at once; returns how many keys went. ``durable=False``
        sends no ``WAIT`` (grants nobody was answered with, or displaced by the cap, as a
        single node's issuing script never waited). ``displaced``: grants the cap took out
        of their subject's index already, so only their client's index is left to prune.
        ``why``: they went with another change, each recorded (:mod:`._cascade`); the
        grants exchanged from them are then recorded as such too, as they are with
        ``exchanged`` alone (grants whose own revocation is recorded by the caller).
        ``later``: when that is ``index_key`` alone, the ids stay there for the next script
        of its slot to drop (:meth:`unindexed`), while fewer than ``DEFERRED_UNINDEX`` wait:
        no ``ZREM`` round trip of its own."""
        commands = [self.command(g, why=why) for g in grant_ids]
        loads = (scripts.SWEEP_GRANT_CASCADED,) if self.cascades.in_script(why) else ()
        replies = (await self.swept(commands, grant_ids, loads=loads, why=why)
                   if durable else await self._gateway.run(commands, scripts.SWEEP_GRANT,
                                                           *loads))
        await self.cascades.after(why, gone_of(grant_ids, replies))
        unindex: dict[str, list[str]] = {index_key: list(grant_ids)}
        deleted, taken = 0, []
        for grant_id, (client_id, subject, subject_type, keys, children) in zip(
                grant_ids, replies, strict=True):
            self._gateway.forget_all(keys)
            deleted += len(keys)
            taken.append(children)
            client_id, subject, subject_type = texts([client_id, subject, subject_type])
            if not client_id:
                continue
            others = ([self._keys.client_index(client_id)] if displaced
                      else self.indexes(client_id, subject, subject_type, displaced=False))
            for other in others:
                if other != index_key:
                    unindex.setdefault(other, []).append(grant_id)
        waiting = sum(map(len, self._unindex_later.values())) if later else 0
        if later and list(unindex) == [index_key] and (
                waiting + len(grant_ids) <= DEFERRED_UNINDEX):
            self._unindex_later.setdefault(index_key, []).extend(grant_ids)
        else:
            await self._gateway.run([("ZREM", key, *ids) for key, ids in unindex.items()])
        if why is not None:
            exchanged = why._replace(cause="exchanged")
        return deleted + await self.chains.revoke_descendants(grant_ids, taken, exchanged)

    async def swept(self, sweeps: list[Command], grant_ids: list[str], *,
                    loads: tuple[Script, ...] = (), why: Taken | None = None) -> list[Any]:
        """Run ``SWEEP_GRANT`` calls (the first commands, one per grant of ``grant_ids``;
        other writes may follow) as one durable write. When no replica confirmed it in
        time, the keys are gone on the primary all the same: the local cache forgets them,
        and the listener hears of the grants that went with another change (``why``) as
        not confirmed durable (:mod:`._cascade`), before the 503 leaves."""
        try:
            return await self._gateway.run(sweeps, scripts.SWEEP_GRANT, *loads, durable=True)
        except StoreNotDurable as exc:
            done = exc.replies[:len(grant_ids)]
            for reply in done:
                self._gateway.forget_all(reply[3])
            await self.cascades.after(why, gone_of(grant_ids, done), confirmed=False)
            raise
