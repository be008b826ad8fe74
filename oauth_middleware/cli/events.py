"""``events list`` and ``events tail``: the audit trail from the command line.

``list`` pages back from the newest event (``--before`` the cursor it printed);
``tail`` follows new events as they are written (``XREAD BLOCK`` in short waits), until
interrupted, or after ``--limit`` events or ``--idle`` seconds without one. Every value
comes from the store, so text output goes through :func:`.output.printable`.

Commands that issue tokens, revoke them or change clients record their own events with
the actor ``cli`` (:func:`noted`, :func:`cli_trail`): with ``--audit`` (or
``OAUTH_MIDDLEWARE_AUDIT=1``) always, with ``--no-audit`` never, and by default when the
store's event stream exists, which it does once the app with an audit trail wrote an
event. The CLI does not know the app's ``retention``: it bounds the stream at the
trail's default or the stream's present length, whichever is more, so it never trims
away events the app keeps (the app's next write trims to its own bound).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import click

from oauth_middleware.audit import EVENT_TYPES, RETENTION, AuditTrail, Event, EventType
from oauth_middleware.audit.trail import MAX_RETENTION
from oauth_middleware.cli.context import Settings, run
from oauth_middleware.cli.output import emit_json, json_option, printable, when
from oauth_middleware.store import TokenStore

T = TypeVar("T")
#: Most events one ``list`` prints.
MAX_COUNT = 1000


@click.group("events")
def events_group() -> None:
    """Read the audit trail: who was issued what, and who revoked it."""


def event_dict(event: Event) -> dict[str, object]:
    return {"id": event.id, "type": event.type, "time": event.time, "actor": event.actor,
            "client": event.client, "user": event.user, "grant": event.grant,
            "fingerprint": event.fingerprint, "request_id": event.request_id,
            "details": dict(event.details)}


def event_line(event: Event) -> str:
    fields = {k: v for k, v in event.fields().items() if k not in ("type", "time")}
    return printable(f"{when(event.time)} {event.type} " + " ".join(
        f"{k}={v}" for k, v in fields.items()))


@events_group.command("list")
@click.option("--user", default="", help="Only events of this user.")
@click.option("--client", default="", help="Only events of this client id.")
@click.option("--type", "kind", type=click.Choice(sorted(EVENT_TYPES)), default=None,
              help="Only events of this type.")
@click.option("--count", type=click.IntRange(1, MAX_COUNT), default=50, show_default=True,
              help="At most this many events, newest first.")
@click.option("--before", default=None, metavar="ID",
              help="Only events older than this id (the cursor a previous page printed).")
@json_option
def list_events(user: str, client: str, kind: str | None, count: int, before: str | None,
                as_json: bool) -> None:
    """The newest events, filtered."""
    match = {k: v for k, v in (("user", user), ("client", client), ("type", kind or "")) if v}
    found, cursor = run(lambda store: AuditTrail(store).page(before=before, count=count,
                                                             match=match))
    if as_json:
        emit_json({"events": [event_dict(e) for e in found], "next": cursor})
        return
    for event in found:
        click.echo(event_line(event))
    if cursor:
        click.echo(printable(f"More: --before {cursor}"))


@events_group.command("tail")
@click.option("--after", default="$", metavar="ID", show_default=True,
              help="Follow from this id ($: only events written from now on).")
@click.option("--limit", type=click.IntRange(1), default=None,
              help="Stop after this many events.")
@click.option("--idle", type=click.FloatRange(0.1), default=None,
              help="Stop once no event came for this many seconds.")
@json_option
def tail(after: str, limit: int | None, idle: float | None, as_json: bool) -> None:
    """Print new events as they are written.

    With --json each event is one JSON document.
    """
    def show(event: Event) -> None:
        if as_json:
            emit_json(event_dict(event))
        else:
            click.echo(event_line(event))

    run(lambda store: follow(store, after, show, limit=limit, idle=idle))


async def follow(store: TokenStore, after: str, show: Callable[[Event], None], *,
                 limit: int | None, idle: float | None) -> int:
    """Show events after ``after`` until ``limit`` were shown or ``idle`` seconds passed
    without one; how many were shown."""
    shown, last, quiet_since = 0, after, time.monotonic()
    if last == "$":  # "from now": the id of the newest event, so nothing is skipped later
        newest = await store.events.page(None, 1)
        last = newest[0][0] if newest else "0-0"
    while limit is None or shown < limit:
        entries = await store.events.follow(last, 100, 250)
        for entry_id, fields in entries:
            last = entry_id
            event = Event.from_fields(entry_id, fields)
            if event is not None and (limit is None or shown < limit):
                show(event)
                shown += 1
        if entries:
            quiet_since = time.monotonic()
        elif idle is not None and time.monotonic() - quiet_since >= idle:
            break
    return shown


def audit_setting() -> bool | None:
    """The root group's ``--audit``/``--no-audit`` (None: neither)."""
    settings = click.get_current_context().find_object(Settings)
    return None if settings is None else settings.audit


async def cli_trail(store: TokenStore, setting: bool | None) -> AuditTrail | None:
    """The trail the CLI records in (None: none), as ``setting`` (:func:`audit_setting`)
    says; bounded so as never to trim what the app keeps (see the module's text)."""
    if setting is False:
        return None
    length = await store.events.length()
    if setting is None and not length:
        return None
    return AuditTrail(store, retention=min(MAX_RETENTION, max(RETENTION, length)))


def noted(work: Callable[[TokenStore], Awaitable[T]], type: EventType, *,
          about: Callable[[T], dict[str, str]] | None = None, **fields: Any
          ) -> Callable[[TokenStore], Awaitable[T]]:
    """``work``, then its event (actor ``cli``, ``fields`` and those ``about`` its result
    gives) when it changed something (a true result) and the CLI records events."""
    return noted_with(lambda store, _: work(store), type, about=about, **fields)


def noted_with(work: Callable[[TokenStore, AuditTrail | None], Awaitable[T]], type: EventType,
               *, about: Callable[[T], dict[str, str]] | None = None, **fields: Any
               ) -> Callable[[TokenStore], Awaitable[T]]:
    """:func:`noted`, with the trail (None: the CLI records none) handed to ``work``: a
    revocation records the grants it takes with it (``audit.cascading``)."""
    setting = audit_setting()

    async def both(store: TokenStore) -> T:
        trail = await cli_trail(store, setting)
        result = await work(store, trail)
        if result and trail is not None:
            more = about(result) if about is not None else {}
            await trail.note(type, actor="cli", **fields, **more)
        return result
    return both
