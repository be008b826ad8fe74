"""Waiting for a condition that another task or process brings about, bounded.

Used where the behaviour under test is asynchronous by design (the local
cache's invalidation listener): the test polls the condition and fails after
:data:`DEADLINE`; nothing here times a behaviour.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import pytest

#: Generous bound for conditions that hold within milliseconds on an idle machine.
DEADLINE = 10.0


async def until(condition: Callable[[], bool | Awaitable[bool]], what: str) -> None:
    """Poll ``condition`` until it holds; fails the test after :data:`DEADLINE` seconds."""
    end = time.monotonic() + DEADLINE
    while time.monotonic() < end:
        result = condition()
        if result if isinstance(result, bool) else await result:
            return
        await asyncio.sleep(0.01)  # polling for a condition, not timing a behaviour
    pytest.fail(f"timed out waiting until {what}")
