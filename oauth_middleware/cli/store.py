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
from oauth_middleware.cli.output import echo_fields, emit_json, json_option
from oauth_middleware.store import RedisHealth, TokenStore, UnsafeRedis


@click.group("store")
def store_group() -> None:
    """Check the Redis the store runs on."""


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

    async def work(store: TokenStore) -> RedisHealth:
        try:
            return await store.check(allow_eviction=allow_eviction)
        except UnsafeRedis as exc:
            raise click.ClickException(one_line(str(exc))) from None

    health = run(work)
    fields = {"maxmemory-policy": health.eviction_policy, "appendonly": health.appendonly,
              "save": health.save, "cluster_enabled": health.cluster_enabled,
              "warnings": list(health.notes)}
    if as_json:
        emit_json(fields)
        return
    echo_fields({name: _shown(value) for name, value in fields.items() if name != "warnings"})
    for note in health.notes:
        click.echo(f"Warning: {one_line(note)}", err=True)
    if not health.notes:
        click.echo("OK: nothing in this configuration loses data silently.")
