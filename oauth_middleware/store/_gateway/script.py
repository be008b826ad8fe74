"""Lua scripts called by SHA, with their keys named apart from their arguments.

A script names every key it touches (``KEYS``), so a client that routes by key
(Redis Cluster) can send it to the node that holds them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

#: One Redis command: its name and arguments, as redis-py packs them.
Command = tuple[Any, ...]
#: A reply per command; an error reply is the ``ResponseError`` itself.
Replies = list[Any]


class Script:
    """A Lua script called by SHA; loaded on first use and again after a Redis restart."""

    __slots__ = ("sha", "source")

    def __init__(self, source: str) -> None:
        self.source = source
        self.sha = hashlib.sha1(source.encode(), usedforsecurity=False).hexdigest()
        SCRIPTS.append(self)


#: Every script the imported modules define: what a readiness check makes sure Redis holds.
SCRIPTS: list[Script] = []


def evalsha(script: Script, keys: Sequence[str], args: Sequence[Any]) -> Command:
    """The command that runs ``script`` on ``keys`` with ``args``."""
    return ("EVALSHA", script.sha, len(keys), *keys, *args)
