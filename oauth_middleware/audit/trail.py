"""The audit trail: events to a bounded Redis Stream, the ``oauth_middleware.audit``
logger and the host's ``on_event`` hook.

Where a change is one Lua script (issuing, redeeming a code, rotating a refresh token,
revoking a token or a grant), the store writes the event with it (``store._events``)
and, once the script answered, hands the event it wrote back (:meth:`AuditTrail.heard`):
on one server the script itself chooses ``code.redeemed`` or ``code.replayed``, so only
the store knows which event the logger and the hook are to hear. Every
other change is recorded after it answered (:meth:`AuditTrail.record`: one ``XADD``,
then the same announcement).

The hook is the host's code: an exception from it, or an async hook still running after
``hook_timeout`` seconds, is logged by its class name only (never its message, which may
quote anything) and the request goes on; a sync hook runs on the event loop, so it
should hand the event off rather than do I/O itself.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from oauth_middleware import request_id
from oauth_middleware.audit.events import Event, EventType, check, fields_of, scopes_text
from oauth_middleware.store import Cascade, Cause, StreamEvent

if TYPE_CHECKING:
    from oauth_middleware.store import TokenStore

logger = logging.getLogger("oauth_middleware.audit")

#: ``on_event(event)``: sync, or async (awaited up to ``hook_timeout``).
OnEvent = Callable[[Event], Awaitable[None] | None]
#: Default stream bound (entries): about 30 MB of Redis memory at ~300 bytes an event.
RETENTION = 100_000
#: Largest ``retention`` accepted.
MAX_RETENTION = 100_000_000
#: The ``reason`` of a grant the store took with another change: exchanged from a grant
#: that was revoked (RFC 8693), or displaced past its user's or client's grant cap.
CASCADES: dict[Cause, str] = {"exchanged": "parent revoked", "displaced": "over the cap"}

class AuditTrail:
    """Where events go: ``store``'s stream (``retention`` entries, ``MAXLEN ~``), the
    ``oauth_middleware.audit`` logger, and ``on_event`` when given."""

    def __init__(self, store: TokenStore, *, retention: int = RETENTION,
                 on_event: OnEvent | None = None, hook_timeout: float = 1.0) -> None:
        if not 1 <= retention <= MAX_RETENTION:
            raise ValueError(f"retention must be 1 to {MAX_RETENTION} events, e.g. "
                             f"retention={RETENTION}")
        if not 0 < hook_timeout <= 60:
            raise ValueError("hook_timeout must be above 0 and at most 60 seconds")
        self.store = store
        self.retention = retention
        self.on_event = on_event
        self.hook_timeout = hook_timeout
        #: Records the grants the store takes with a change.
        self.cascaded = CascadeEvents(self)

    def event(self, type: EventType, *, actor: str = "", client: str = "", user: str = "",
              grant: str = "", fingerprint: str = "", scopes: Iterable[str] | None = None,
              **details: str) -> Event:
        """An event of now, with the request id of the request being served."""
        if scopes is not None:
            details["scopes"] = scopes_text(scopes)
        return Event(type=type, time=self.store.clock(), actor=actor, client=client,
                     user=user, grant=grant, fingerprint=fingerprint,
                     request_id=request_id.current() or "", details=details)

    def stream_event(self, type: EventType, *, lost: EventType | None = None,
                     actor: str = "", client: str = "", user: str = "", grant: str = "",
                     fingerprint: str = "", scopes: Iterable[str] | None = None,
                     **details: str) -> StreamEvent:
        """An event of now (the arguments of :meth:`event`) for the store to write with a
        script's change (``lost``: its type when the script refuses the change for a
        replay); the store adds grant and fingerprint, and tells the logger and the hook
        of the event the script wrote, whichever it was (:meth:`heard`), when anything
        listens. Built straight as the stream's fields, with the checks and cleaning of
        :class:`Event` but not one: this runs on every token request."""
        check(type, details)
        if scopes is not None:
            details["scopes"] = scopes_text(scopes)
        fields = fields_of(self.store.clock(), actor, client, user, grant, fingerprint,
                           request_id.current() or "", details)
        return StreamEvent(type, fields, self.retention, lost or "", "",  # positional: quicker
                           self.heard if self.listening() else None, self.cascaded)

    async def heard(self, entry_id: str, fields: dict[str, str]) -> None:
        """Announce an event the store wrote with its change, from the stream's fields (the
        log line shows them as they are: built and cleaned once, by :meth:`stream_event`)."""
        event = Event.from_fields(entry_id, fields)
        if event is not None:
            await self.announce(event, fields)

    async def record(self, event: Event) -> Event:
        """Write ``event`` to the stream, then announce it; the event with its stream id."""
        written = event.with_id(await self.store.events.append(event.fields(), self.retention))
        await self.announce(written)
        return written

    async def note(self, type: EventType, **fields: Any) -> Event:
        """:meth:`record` an event of now (the arguments of :meth:`event`)."""
        return await self.record(self.event(type, **fields))

    async def login(self, user: str, *, succeeded: bool, reason: str = "") -> Event:
        """For the host: record a sign-in of ``user``: the account the login resolved,
        never text as typed (a password typed in the user field would be kept), and
        ``reason`` a short word on failure."""
        details = {"reason": reason} if reason else {}
        return await self.note("login.succeeded" if succeeded else "login.failed",
                               actor="host", user=user, **details)

    def listening(self) -> bool:
        """Does anything but the stream take events (a hook, or the logger at INFO)? When
        nothing does, :meth:`announce` has nothing to do and its event need not be built."""
        return self.on_event is not None or logger.isEnabledFor(logging.INFO)

    async def announce(self, event: Event, fields: dict[str, str] | None = None) -> None:
        """Tell the logger and the hook (the stream has the event already, as ``fields``
        when they are known: not built again for the log line)."""
        if logger.isEnabledFor(logging.INFO):
            fields = event.fields() if fields is None else fields
            logger.info("%s %s", event.type, " ".join(
                f"{k}={v}" for k, v in fields.items() if k not in ("type", "time")),
                extra={"audit_event": fields})
        if self.on_event is not None:
            await self._call_hook(self.on_event, event)

    async def _call_hook(self, hook: OnEvent, event: Event) -> None:
        try:
            result = hook(event)
            if inspect.isawaitable(result):
                await asyncio.wait_for(result, self.hook_timeout)
        except TimeoutError:
            logger.warning("on_event hook took over %.1f s for a %s event: left behind",
                           self.hook_timeout, event.type)
        except Exception as exc:
            logger.warning("on_event hook failed for a %s event: %s", event.type,
                           type(exc).__name__)

    async def page(self, *, before: str | None = None, count: int = 50,
                   match: Mapping[str, str] | None = None) -> tuple[list[Event], str | None]:
        """Up to ``count`` events newest first, older than the id ``before``, whose fields
        equal every item of ``match`` (``type``, ``client``, ``user``, ...); and the cursor
        of the next page (None: no older event). Filtering reads the stream in pages of
        ``count`` up to 20 pages a call, so a rare match may come back in a short page
        with a cursor to go on from."""
        wanted, found = dict(match or {}), list[Event]()
        cursor = before
        for _ in range(20):
            entries = await self.store.events.page(cursor, count)
            if not entries:
                return found, None
            for entry_id, fields in entries:
                cursor = entry_id
                event = Event.from_fields(entry_id, fields)
                if event is not None and all(fields.get(k) == v for k, v in wanted.items()):
                    found.append(event)
                    if len(found) == count:
                        return found, entry_id
            if len(entries) < count:
                return found, None
        return found, cursor


class CascadeEvents:
    """The events of grants the store took with a change (:data:`CASCADES` says why):
    ``token.revoked`` by ``cascade``. A script that sweeps them completes a template
    (:meth:`template`) with each grant's client and user; its fields but the time and
    request id are the same for every change of a cause, so they are built once: a
    single server's issuing script takes the template on every issue past nobody's cap
    too, as it cannot know beforehand whether it displaces a grant."""

    __slots__ = ("_constant", "_trail")

    def __init__(self, trail: AuditTrail) -> None:
        self._trail = trail
        self._constant: dict[Cause, tuple[str, ...]] = {}

    def __call__(self, cause: Cause, *, grant: str = "", client: str = "",
                 user: str = "") -> StreamEvent:
        return self._trail.stream_event("token.revoked", actor="cascade", client=client,
                                        user=user, grant=grant, by="cascade",
                                        reason=CASCADES[cause])

    def template(self, cause: Cause, like: StreamEvent | None
                 ) -> tuple[str, int, tuple[str, ...]]:
        kind, constant = self.constant(cause)
        items = like.fields if like is not None else fields_of(
            self._trail.store.clock(), "", "", "", "", "", request_id.current() or "", {})
        stamp, names = items[:2], items[::2]  # the time comes first
        if "request_id" in names:
            at = 2 * names.index("request_id")
            stamp += items[at:at + 2]
        return kind, self._trail.retention, stamp + constant

    def constant(self, cause: Cause) -> tuple[str, tuple[str, ...]]:
        constant = self._constant.get(cause)
        if constant is None:  # the fields of :meth:`__call__` but the time (the first two)
            constant = self._constant[cause] = fields_of(
                0.0, "cascade", "", "", "", "", "", {"by": "cascade", "reason": CASCADES[cause]}
            )[2:]
        return "token.revoked", constant

    def listening(self) -> bool:
        return self._trail.listening()


def cascading(trail: AuditTrail | None) -> Cascade | None:
    """What records the grants a revocation takes with it (:meth:`AuditTrail.cascaded`), for
    a change whose own event is recorded after it; None without a trail."""
    return None if trail is None else trail.cascaded


async def note(trail: AuditTrail | None, type: EventType, **fields: Any) -> None:
    """:meth:`AuditTrail.note` when there is a trail; nothing otherwise."""
    if trail is not None:
        await trail.note(type, **fields)


async def removed(trail: AuditTrail | None, client_id: str, revoked: int, *, actor: str,
                  reason: str) -> None:
    """Record a client's removal by ``actor``, then the ``revoked`` tokens and codes its
    removal took with it: ``token.revoked`` by ``cascade`` (none when it had none)."""
    if trail is None:
        return
    await trail.note("client.removed", actor=actor, client=client_id, reason=reason)
    if revoked:
        await trail.note("token.revoked", actor="cascade", client=client_id, by="cascade",
                         reason="client removed", count=str(revoked))
