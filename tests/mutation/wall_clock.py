"""A wall-clock limit on each test while mutmut runs a mutant.

mutmut's own timeout counts CPU time, so a mutant that leaves a caller awaiting an answer
that never comes (the store gateway's batch and pipeline are full of such waits) sits idle
forever and holds a worker: two of them once stalled a whole run. Under a mutant, each test
gets ``MUTANT_TEST_SECONDS`` (30 by default) of wall clock; past it the test fails, which
counts the mutant as caught — it did break something: a request that never answers.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

import pytest

#: mutmut's values of ``MUTANT_UNDER_TEST`` that are no mutant (collecting, listing).
_NO_MUTANT = {"", "stats", "list_all_tests"}


class MutantHung(Exception):
    """The test ran past its wall-clock limit under a mutant."""


@contextmanager
def wall_clock(seconds: int) -> Iterator[None]:
    """Raise :class:`MutantHung` in the main thread after ``seconds`` (SIGALRM)."""
    def expired(signum: int, frame: FrameType | None) -> None:
        raise MutantHung(f"no answer within {seconds} s of wall clock under a mutant")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


@pytest.fixture(autouse=True)
def _mutant_wall_clock() -> Iterator[None]:
    if os.environ.get("MUTANT_UNDER_TEST", "") in _NO_MUTANT:
        yield
        return
    with wall_clock(int(os.environ.get("MUTANT_TEST_SECONDS", "30"))):
        yield
