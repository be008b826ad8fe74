"""The scope registry (RFC 6749 §3.3): add, enable, disable, remove and sync scopes.

Shared by the CLI, the admin and application code (``discovery.sync_app`` seeds
an app's scopes at start-up). A disabled scope is never granted; tokens already
issued keep the scopes they carry until they expire or are revoked, because the
middleware judges a token by its own record, in one Redis round trip.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace

from oauth_middleware.models import Scope
from oauth_middleware.scopes import validate_scope
from oauth_middleware.store import Progress, TokenStore
from oauth_middleware.toolbox import scope_title
from oauth_middleware.toolbox.rules import MAX_TITLE, text_field


class ScopeExists(ValueError):
    """A scope with this identifier is already registered."""


class UnknownScope(LookupError):
    """No scope with this identifier is registered."""


@dataclass(frozen=True, slots=True)
class ScopeSync:
    """What a sync did: the scopes it registered and those that were already there."""

    added: tuple[Scope, ...]
    existing: tuple[Scope, ...]
    dry_run: bool = False


async def add_scope(
    store: TokenStore, identifier: str, *, title: str | None = None, enabled: bool = True
) -> Scope:
    """Register a new scope; the title defaults to a readable one ("Polls Results").

    A typed title is checked as a client's is (length, no control characters): the
    consent page shows it. A default title is made of the identifier's characters,
    which RFC 6749 §3.3 already limits to printable ASCII.
    """
    typed = text_field(title or "", "scope title", MAX_TITLE)
    scope = Scope(validate_scope(identifier), typed or scope_title(identifier), enabled)
    if not await store.create_scope(scope):
        raise ScopeExists(f"scope {identifier!r} is already registered")
    return scope


async def require_scope(store: TokenStore, identifier: str) -> Scope:
    """The registered scope ``identifier``, or :class:`UnknownScope`."""
    found = await store.get_scopes([identifier])
    if identifier not in found:
        raise UnknownScope(f"no scope {identifier!r}")
    return found[identifier]


async def set_scope_enabled(store: TokenStore, identifier: str, enabled: bool) -> Scope:
    """Enable or disable a scope; a disabled scope is refused at every grant."""
    scope = replace(await require_scope(store, identifier), enabled=enabled)
    await store.save_scope(scope)
    return scope


async def remove_scope(store: TokenStore, identifier: str) -> None:
    """Forget a scope. Clients that list it can no longer be granted it."""
    if not await store.delete_scope(identifier):
        raise UnknownScope(f"no scope {identifier!r}")


async def sync_scopes(
    store: TokenStore,
    identifiers: Iterable[str],
    *,
    dry_run: bool = False,
    progress: Progress | None = None,
) -> ScopeSync:
    """Register every missing scope with a readable title (oauthost's ``syncscopes``).

    Existing scopes are left exactly as they are (title and enabled state); a
    scope registered concurrently by someone else counts as existing.
    ``progress(done, total)`` is called after each scope registered.
    """
    wanted = [validate_scope(s) for s in dict.fromkeys(identifiers)]
    known = await store.get_scopes(wanted)
    missing = [Scope(s, scope_title(s)) for s in wanted if s not in known]
    added: list[Scope] = []
    for done, scope in enumerate(missing, 1):
        if dry_run or await store.create_scope(scope):
            added.append(scope)
        else:
            known.update(await store.get_scopes([scope.identifier]))
        if progress is not None:
            progress(done, len(missing))
    existing = tuple(known[s] for s in wanted if s in known)
    return ScopeSync(tuple(added), existing, dry_run)
