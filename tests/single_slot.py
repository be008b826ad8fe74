"""A guard that every multi-key command the store sends stays in one Redis Cluster slot.

Redis Cluster refuses a script, MULTI or MGET whose keys live in different slots
(CROSSSLOT), so the key schema gives every key one operation touches one hash tag
(``store/keys.py``). This guard checks the schema where it matters, on what the store
really sends: it wraps the gateway's one exit (``Gateway._exchange``), computes the slot
of every key of each ``EVALSHA``/``EVAL``/``MGET``/``DEL``… it names, and records each
command whose keys span slots. The test fails at teardown (recording rather than raising
keeps the store's own error handling from hiding the violation behind a 503 or 500).

On for every test with ``--single-slot``; ``single_slot`` as a fixture turns it on for one.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Sequence
from typing import Any

import pytest
from redis.crc import key_slot

from oauth_middleware.store._gateway.gateway import Gateway
from oauth_middleware.store._gateway.script import Script

#: Commands whose every argument after the name is a key.
ALL_KEYS = frozenset({"MGET", "DEL", "UNLINK", "EXISTS", "TOUCH", "WATCH", "SUNION",
                      "SINTER", "SDIFF"})


def keys_of(command: Sequence[Any]) -> list[bytes]:
    """The keys ``command`` names (scripts: the ``numkeys`` after the SHA or source)."""
    name = str(command[0]).upper()
    if name in ("EVALSHA", "EVAL", "EVALSHA_RO", "EVAL_RO", "FCALL"):
        count = int(command[2])
        raw = command[3:3 + count]
    elif name in ALL_KEYS:
        raw = command[1:]
    else:
        return []
    return [k if isinstance(k, bytes) else str(k).encode() for k in raw]


def cross_slot(command: Sequence[Any]) -> str | None:
    """A description of ``command`` when its keys hash to more than one slot, else None."""
    keys = keys_of(command)
    slots = {key_slot(k) for k in keys}
    if len(slots) <= 1:
        return None
    head = command[1] if str(command[0]).upper() != "EVALSHA" else _script_name(command[1])
    return f"{command[0]} {head}: " + ", ".join(
        f"{k.decode(errors='replace')}@{key_slot(k)}" for k in keys)


def _script_name(sha: Any) -> str:
    """The module-level name of the script with this SHA, for a readable report."""
    for module_obj in list(sys.modules.values()):
        if not getattr(module_obj, "__name__", "").startswith("oauth_middleware"):
            continue
        for attr, value in vars(module_obj).items():
            if isinstance(value, Script) and value.sha == str(sha):
                return f"{module_obj.__name__}.{attr}"
    return str(sha)


@pytest.fixture
def cross_slot_commands(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every cross-slot command the store sends from now on, described (see :func:`cross_slot`)."""
    found: list[str] = []
    original = Gateway._exchange

    async def checked(self: Gateway, commands: Sequence[Any], *args: Any, **kw: Any) -> Any:
        found.extend(v for v in map(cross_slot, commands) if v is not None)
        return await original(self, commands, *args, **kw)

    monkeypatch.setattr(Gateway, "_exchange", checked)
    return found


@pytest.fixture
def single_slot(cross_slot_commands: list[str]) -> Iterator[list[str]]:
    """Fail the test if the store sent a cross-slot command."""
    found = cross_slot_commands
    yield found
    if found:
        pytest.fail("cross-slot commands:\n" + "\n".join(dict.fromkeys(found)), pytrace=False)


@pytest.fixture(autouse=True)
def _single_slot_everywhere(request: pytest.FixtureRequest) -> None:
    if request.config.getoption("--single-slot"):
        request.getfixturevalue("single_slot")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--single-slot", action="store_true",
                     help="fail any test whose store sends a multi-key command spanning "
                          "Redis Cluster slots")
