"""``oauth-middleware store check``: is the app's Redis set up so that nothing is silently lost?

Prints what it read (eviction policy, persistence, cluster mode) and every warning;
exits 1 when the store would refuse to start on this Redis (an ``allkeys-*`` policy
without ``--allow-eviction``, a Cluster node behind ``redis://``). A setting Redis
will not show (``CONFIG`` refused to an ACL user or by a managed service) is reported
as not checked, not as a failure.
"""

from __future__ import annotations

import click

from oauth_middleware.cli.context import one_line, run
from oauth_middleware.cli.output import echo_fields, emit_json, json_option, printable
from oauth_middleware.cli.transfer import TRANSFER_COMMANDS
from oauth_middleware.store import RedisHealth, TokenStore, UnsafeRedis
from oauth_middleware.store.transfer import unknown_keys

#: How many keys the schema does not describe ``store check`` names (it counts them all).
SHOWN_UNKNOWN = 10


@click.group("store")
def store_group() -> None:
    """Check the Redis the store runs on; back up, restore and move its data."""


for _command in TRANSFER_COMMANDS:
    store_group.add_command(_command)


def _shown(value: object) -> str:
    return "not checked" if value is None else str(value)


@store_group.command("check")
@click.option("--allow-eviction", is_flag=True,
              help="Accept an allkeys-* maxmemory-policy (clients and scopes may be evicted).")
@json_option
def check(allow_eviction: bool, as_json: bool) -> None:
    """Check eviction policy and persistence.

    Reads maxmemory-policy, appendonly, save and cluster mode; fails (exit 1) where the
    store would refuse to start, warns where Redis may lose data."""

    async def work(store: TokenStore) -> tuple[RedisHealth, list[str], int]:
        try:
            health = await store.check(allow_eviction=allow_eviction)
        except UnsafeRedis as exc:
            raise click.ClickException(one_line(str(exc))) from None
        shown: list[str] = []
        count = 0
        async for key in unknown_keys(store):
            count += 1
            if len(shown) < SHOWN_UNKNOWN:
                shown.append(key)
        return health, shown, count

    health, strange, unknown = run(work)
    notes = list(health.notes)
    if unknown:
        notes.append(f"{unknown} key(s) under the prefix are not the store's (not exported, "
                     f"never read): {', '.join(printable(key) for key in strange)}"
                     + (" ..." if unknown > len(strange) else ""))
    fields = {"maxmemory-policy": health.eviction_policy, "appendonly": health.appendonly,
              "save": health.save, "cluster_enabled": health.cluster_enabled,
              "unknown_keys": unknown, "warnings": notes}
    if as_json:
        emit_json(fields)
        return
    echo_fields({name: _shown(value) for name, value in fields.items() if name != "warnings"})
    for note in notes:
        click.echo(f"Warning: {one_line(note)}", err=True)
    if not notes:
        click.echo("OK: nothing in this configuration loses data silently.")
